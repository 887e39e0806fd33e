import type { Logger } from 'pino';
import type { RedisConnectionFactory } from '../../realtime/index.ts';
import {
  FfmpegRenderer,
  type JobQueue,
  type JobQueueOptions,
  MemoryJobQueue,
  RedisJobQueue,
  type RenderJobData,
  RenderWorkerPool,
  type RoomEventPublisher,
  renderQueuePrefix,
  resolveFfmpegBinaries,
} from '../../render-farm/index.ts';
import type { Database } from '../db/index.ts';
import type { FileStorage } from '../storage/index.ts';
import { AssetService } from './asset-service.ts';
import { DbAssetResolver } from './db-asset-resolver.ts';
import type { RenderCharges } from './render-charges.ts';
import { RenderService } from './render-service.ts';

export interface RenderRuntimeOptions {
  database: Database;
  logger: Logger;
  /** The process's file storage (STORAGE_DIR or STORAGE_URL). */
  storage: FileStorage;
  /** The process's Redis connections; absent: the in-process queue (embedded mode). */
  redis?: RedisConnectionFactory | undefined;
  /** REDIS_KEY_PREFIX; the queue lives under `<prefix>:renders`. Default `reelroom`. */
  redisKeyPrefix?: string | undefined;
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
  /**
   * Run render workers in this process. Default: only in embedded mode (no Redis); with Redis,
   * `npm run start:worker` processes render.
   */
  workers?: boolean | undefined;
  /** RENDER_CONCURRENCY of the in-process workers. Default 1. */
  concurrency?: number | undefined;
  /** RENDER_MEMORY_BUDGET_MIB in bytes, for the submit check and the workers. Default 512 MiB. */
  memoryBudgetBytes?: number | undefined;
  /** Room events of renders (`services.realtime.emitter`). */
  publisher?: RoomEventPublisher | undefined;
  /** Billing of renders; absent: renders are free. */
  charges?: RenderCharges | undefined;
  /** Queue tuning (tests). */
  queueOptions?: JobQueueOptions | undefined;
  /** After a submit committed its outbox entry: the node's outbox dispatcher `kick()`. */
  onCommitted?: (() => void) | undefined;
  /** Encoded scene segments kept for re-renders (RENDER_SEGMENT_CACHE_DIR); absent: no cache. */
  segmentCacheDir?: string | undefined;
  /** The fault suite's crash points at the workers' transitions (server/crash-points.ts). */
  crashPoint?: ((name: string) => void) | undefined;
}

export interface RenderRuntime {
  renders: RenderService;
  assets: AssetService;
  storage: FileStorage;
  queue: JobQueue<RenderJobData>;
  /** The in-process workers, when this node runs them. */
  pool: RenderWorkerPool | undefined;
  /** Stops the workers (running renders get `graceMs`, then go back to the queue), the queue. */
  close(graceMs: number): Promise<void>;
}

/**
 * The render farm as an API node sees it: storage, the queue (Redis Streams, or in-process in
 * embedded mode), the services the routes call and, in embedded mode, the workers.
 */
export async function startRenderRuntime(options: RenderRuntimeOptions): Promise<RenderRuntime> {
  const { database, logger } = options;
  const log = logger.child({ part: 'renders' });
  const { storage } = options;
  const binaries = resolveFfmpegBinaries({
    ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
    ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
  });
  const queue: JobQueue<RenderJobData> = options.redis
    ? new RedisJobQueue<RenderJobData>({
        redis: options.redis,
        prefix: renderQueuePrefix(options.redisKeyPrefix),
        // Only a node that runs workers takes jobs, and its pool takes again right away.
        prefetch: options.workers ?? false,
        logger: log,
        ...options.queueOptions,
      })
    : new MemoryJobQueue<RenderJobData>(options.queueOptions);
  const onError = (error: unknown, context: Record<string, unknown>) =>
    log.error({ err: error, ...context }, 'render bookkeeping failed');
  const assets = new AssetService({ db: database.db, storage, ffprobePath: binaries.ffprobePath });
  const renders = new RenderService({
    db: database.db,
    queue,
    publisher: options.publisher,
    charges: options.charges,
    findAssets: (projectId, ids) => assets.find(projectId, ids),
    onError,
    onCommitted: options.onCommitted,
    memoryBudgetBytes: options.memoryBudgetBytes,
  });

  const runWorkers = options.workers ?? !options.redis;
  let pool: RenderWorkerPool | undefined;
  if (runWorkers) {
    const renderer = new FfmpegRenderer({
      ...binaries,
      ...(options.memoryBudgetBytes ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
      segmentCacheDir: options.segmentCacheDir,
    });
    pool = new RenderWorkerPool({
      queue,
      store: renders.store,
      renderer,
      assets: new DbAssetResolver({ db: database.db }),
      files: storage,
      concurrency: options.concurrency ?? 1,
      logger: log,
      ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
      ...(options.publisher ? { publisher: options.publisher } : {}),
    });
    pool.on('settled', (event) => log.info(event, 'render settled'));
    pool.start();
    log.info({ consumer: pool.consumer, ffmpeg: renderer.ffmpegPath }, 'render workers started');
  }

  let closing: Promise<void> | undefined;
  return {
    renders,
    assets,
    storage,
    queue,
    pool,
    close(graceMs) {
      closing ??= (async () => {
        try {
          await pool?.close({ graceMs });
        } finally {
          await queue.close();
        }
      })();
      return closing;
    },
  };
}
