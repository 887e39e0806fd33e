import type { Logger } from 'pino';
import { RedisRoomEmitter } from '../../realtime/index.ts';
import {
  FfmpegRenderer,
  type JobQueueOptions,
  RedisJobQueue,
  type RenderJobData,
  RenderWorkerPool,
  renderQueuePrefix,
} from '../../render-farm/index.ts';
import { type BillingSettings, workerRenderCharges } from '../billing/index.ts';
import type { Infrastructure } from '../infrastructure.ts';
import { DbAssetResolver } from './db-asset-resolver.ts';
import { DbRenderJobStore } from './render-job-store.ts';

export interface RenderWorkerProcessOptions {
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
  /** RENDER_CONCURRENCY. */
  concurrency: number;
  /** RENDER_MEMORY_BUDGET_MIB in bytes. Default: the renderer's (512 MiB). */
  memoryBudgetBytes?: number | undefined;
  logger: Logger;
  /**
   * REDIS_KEY_PREFIX, shared with the API nodes: the queue is `<prefix>:renders`, room events go
   * to the hub's stream under the same prefix. Default `reelroom`; tests use their own.
   */
  redisKeyPrefix?: string | undefined;
  /**
   * Prices and grants: this worker refunds the renders it ends as failed or cancelled, in the
   * transaction of that final state. Absent: renders are free (no refunds).
   */
  billing?: BillingSettings | undefined;
  /** Encoded scene segments kept for re-renders (RENDER_SEGMENT_CACHE_DIR); absent: no cache. */
  segmentCacheDir?: string | undefined;
  /** The fault suite's crash points (server/crash-points.ts). Default: none. */
  crashPoint?: ((name: string) => void) | undefined;
  queueOptions?: JobQueueOptions;
  /** Heart-beat interval of held jobs. Default: the pool's. */
  heartbeatIntervalMs?: number;
  /** Wall-clock limit of one render. Default: the renderer's. */
  renderTimeoutMs?: number;
  /**
   * SCRATCH_DIR: this worker's own directory for the inputs, FFmpeg's work files and the outputs
   * of the jobs it renders. Default: the OS temporary directory.
   */
  scratchDir?: string | undefined;
}

export interface RenderWorkerProcess {
  pool: RenderWorkerPool;
  /**
   * Graceful stop: no new job, running ones finish for `graceMs`, the rest go back. Closes the
   * worker's queue; the infrastructure stays open for its owner to close.
   */
  close(graceMs?: number): Promise<void>;
}

/** Pool size a worker of `concurrency` wants: one connection per render and one spare. */
export function workerDatabaseConnections(concurrency: number): number {
  return Math.max(2, concurrency + 1);
}

/**
 * Composes a standalone render worker on the process's infrastructure (`openInfrastructure`,
 * with Postgres and Redis): Postgres job store and asset table, the Redis Streams queue, the
 * Redis room emitter for progress, FFmpeg, and the pool. The one worker composition: used by
 * `server/worker-main.ts` and by the multi-process tests' worker fixture.
 */
export async function startRenderWorkerProcess(
  infrastructure: Pick<Infrastructure, 'database' | 'redis' | 'storage'>,
  options: RenderWorkerProcessOptions,
): Promise<RenderWorkerProcess> {
  const { database, redis, storage } = infrastructure;
  if (!redis) throw new Error('startRenderWorkerProcess: a standalone worker needs Redis');
  const queue = new RedisJobQueue<RenderJobData>({
    redis,
    prefix: renderQueuePrefix(options.redisKeyPrefix),
    // The pool takes again as soon as a job completes: fetch the next one with the completion.
    prefetch: true,
    logger: options.logger,
    ...options.queueOptions,
  });
  const publisher = new RedisRoomEmitter({
    redis: redis.shared,
    ...(options.redisKeyPrefix ? { keyPrefix: options.redisKeyPrefix } : {}),
  });
  const renderer = new FfmpegRenderer({
    ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
    ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    ...(options.renderTimeoutMs ? { timeoutMs: options.renderTimeoutMs } : {}),
    ...(options.memoryBudgetBytes ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
    ...(options.scratchDir ? { workDir: options.scratchDir } : {}),
    segmentCacheDir: options.segmentCacheDir,
  });
  const pool = new RenderWorkerPool({
    queue,
    store: new DbRenderJobStore({
      db: database.db,
      charges: options.billing ? workerRenderCharges(database.db, options.billing) : undefined,
    }),
    assets: new DbAssetResolver({ db: database.db }),
    files: storage,
    ...(options.scratchDir ? { scratchDir: options.scratchDir } : {}),
    renderer,
    publisher,
    concurrency: options.concurrency,
    logger: options.logger,
    ...(options.heartbeatIntervalMs ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
  });
  pool.on('settled', (event) => options.logger.info(event, 'render settled'));
  pool.start();
  options.logger.info(
    { consumer: pool.consumer, concurrency: options.concurrency, ffmpeg: renderer.ffmpegPath },
    'render worker started',
  );

  let closing: Promise<void> | undefined;
  return {
    pool,
    close(graceMs) {
      closing ??= (async () => {
        // Each step runs even when an earlier one fails; the first failure is rethrown.
        const failures: unknown[] = [];
        const step = async (run: () => Promise<unknown>) => {
          try {
            await run();
          } catch (error) {
            failures.push(error);
          }
        };
        await step(() => pool.close(graceMs === undefined ? {} : { graceMs }));
        await step(() => queue.close());
        await step(() => publisher.close());
        if (failures.length > 0) throw failures[0];
      })();
      return closing;
    },
  };
}
