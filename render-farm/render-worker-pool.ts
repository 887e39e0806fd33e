import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FinalJobStatus, JobStatus } from '../shared/job-status.ts';
import type { RenderProgressEvent } from '../shared/socket-events.ts';
import type { AssetLocator, AssetResolver, RenderFiles, ResolvedAsset } from './asset-resolver.ts';
import { errorMessage, isUnrecoverable } from './errors.ts';
import type { RenderProgress, RenderRequest, RenderResult } from './ffmpeg-renderer.ts';
import type { JobLease, JobQueue } from './job-queue.ts';
import { type RenderJobData, renderOutputKeys } from './render-job.ts';
import type { RenderJobStore } from './render-job-store.ts';
import type { RoomEventPublisher } from './room-event-publisher.ts';

/** What the pool needs of a renderer ({@link FfmpegRenderer} in production). */
export interface Renderer {
  render(request: RenderRequest): Promise<RenderResult>;
}

/** pino-compatible logging; the pool logs every error it does not hand to a caller. */
export interface WorkerLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface RenderWorkerPoolOptions {
  queue: JobQueue<RenderJobData>;
  store: RenderJobStore;
  renderer: Renderer;
  /** Where a job's input assets are stored. */
  assets: AssetLocator;
  /**
   * The file storage: inputs are downloaded from it, finished outputs uploaded to it (keys from
   * {@link renderOutputKeys}), the thumbnail before the video.
   */
  files: RenderFiles;
  /**
   * This worker's own directory for a job's inputs and outputs while it renders (one
   * subdirectory per job, removed when the job ends). Default: the OS temporary directory.
   */
  scratchDir?: string;
  /** Where progress goes. Default: nowhere (status still lands in the store). */
  publisher?: RoomEventPublisher;
  /** Jobs rendered at once (RENDER_CONCURRENCY). Default 1: FFmpeg uses several cores itself. */
  concurrency?: number;
  /** Consumer name in the queue; unique per pool. Default `<host>-<pid>-<random>`. */
  consumer?: string;
  /**
   * How often a held job is heart-beaten. Default 2000 ms; must stay well under the queue's
   * `leaseMs`, or healthy jobs get taken over.
   */
  heartbeatIntervalMs?: number;
  /** How often `render:progress` is published while rendering. Default 250 ms (4/s). */
  progressIntervalMs?: number;
  /** How often progress is written to the store. Default 1000 ms. */
  storeProgressIntervalMs?: number;
  /** How long one `take` waits before the loop checks for shutdown. Default 1000 ms. */
  pollMs?: number;
  /** Default: errors to stderr, nothing else. */
  logger?: WorkerLogger;
  /**
   * The fault suite's crash points (server/crash-points.ts) at the worker's transitions.
   * Default: none.
   */
  crashPoint?: (name: string) => void;
}

/** A job reached a final state, or left this pool. */
export interface RenderSettledEvent {
  renderId: string;
  attempt: number;
  outcome: FinalJobStatus | 'retrying' | 'handed-back' | 'lost';
  /** From this pool taking the job to its settling, in ms (the render duration metric). */
  durationMs: number;
}

interface PoolEvents {
  settled: [RenderSettledEvent];
}

type StopReason = 'cancelled' | 'lost' | 'shutdown';

interface Running {
  promise: Promise<void>;
  stop(reason: StopReason): void;
}

const stderrLogger: WorkerLogger = {
  info: () => {},
  warn: (details, message) => console.error(message, details),
  error: (details, message) => console.error(message, details),
};

/**
 * Pulls render jobs from the queue, `concurrency` at a time, renders them, writes status through
 * the fenced store and publishes `render:progress` to the project's room: at least twice a
 * second while rendering, and once per status change.
 *
 * A cancel kills FFmpeg at once. A lost lease (the job was taken over) stops the render without
 * writing anything. `close()` takes no new job, lets running ones finish for `graceMs`, then
 * hands the rest back to the queue.
 */
export class RenderWorkerPool extends EventEmitter<PoolEvents> {
  readonly consumer: string;
  private readonly options: Required<
    Omit<RenderWorkerPoolOptions, 'publisher' | 'consumer' | 'scratchDir'>
  > & {
    scratchDir: string;
    publisher: RoomEventPublisher | undefined;
  };
  private readonly running = new Map<string, Running>();
  private readonly stopTaking = new AbortController();
  private slotFreed: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: RenderWorkerPoolOptions) {
    super();
    for (const key of ['queue', 'store', 'renderer', 'assets', 'files'] as const) {
      if (!options[key]) throw new TypeError(`RenderWorkerPool: ${key} is required`);
    }
    this.options = {
      concurrency: 1,
      heartbeatIntervalMs: 2_000,
      progressIntervalMs: 250,
      storeProgressIntervalMs: 1_000,
      pollMs: 1_000,
      scratchDir: tmpdir(),
      logger: stderrLogger,
      crashPoint: (_name: string) => {},
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
      publisher: options.publisher,
    } as RenderWorkerPool['options'];
    this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    const { concurrency, heartbeatIntervalMs, progressIntervalMs } = this.options;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer (got ${concurrency})`);
    }
    if (!(heartbeatIntervalMs > 0) || !(progressIntervalMs > 0)) {
      throw new RangeError('heartbeatIntervalMs and progressIntervalMs must be positive');
    }
  }

  /** Jobs being rendered now. */
  get activeJobs(): number {
    return this.running.size;
  }

  /** Starts pulling jobs. Calling it again does nothing. */
  start(): this {
    if (this.closing) throw new Error('RenderWorkerPool is closed');
    this.loop ??= this.pull();
    return this;
  }

  private async pull(): Promise<void> {
    const { queue, concurrency, pollMs, logger } = this.options;
    const signal = this.stopTaking.signal;
    while (!signal.aborted) {
      if (this.running.size >= concurrency) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        continue;
      }
      let lease: JobLease<RenderJobData> | null;
      try {
        lease = await queue.take(this.consumer, { blockMs: pollMs, signal });
      } catch (error) {
        if (signal.aborted) break;
        logger.error({ err: errorMessage(error), consumer: this.consumer }, 'taking a job failed');
        await abortableDelay(pollMs, signal);
        continue;
      }
      if (!lease) continue;
      if (signal.aborted) {
        await lease.release().catch(() => false);
        break;
      }
      this.track(lease);
    }
  }

  private track(lease: JobLease<RenderJobData>): void {
    const controller = new AbortController();
    const jobId = lease.jobId;
    const promise = this.process(lease, controller)
      .catch((error: unknown) => {
        this.options.logger.error(
          { err: errorMessage(error), renderId: jobId },
          'render job crashed; the queue will hand it to another worker',
        );
      })
      .finally(() => {
        this.running.delete(jobId);
        this.slotFreed?.();
        this.slotFreed = undefined;
      });
    this.running.set(jobId, {
      promise,
      stop: (reason) => {
        if (!controller.signal.aborted) controller.abort(reason);
      },
    });
  }

  private async process(
    lease: JobLease<RenderJobData>,
    controller: AbortController,
  ): Promise<void> {
    const { store, logger } = this.options;
    const { renderId, projectId, spec } = lease.data;
    const attempt = lease.attempt;
    const started = performance.now();
    const settled = (outcome: RenderSettledEvent['outcome']) =>
      this.emit('settled', { renderId, attempt, outcome, durationMs: performance.now() - started });
    const publish = (
      status: JobStatus,
      progress: number,
      extra: Partial<RenderProgressEvent> = {},
    ) => this.publish(projectId, { renderId, status, progress, ...extra });

    if (lease.exhausted) {
      // Its earlier holders went silent until no attempt was left: it ends here. The verdict
      // (and its refund) is stored before the lease is settled, as everywhere below: a crash
      // in between leaves a final row and a held job, which the next holder settles.
      const error = lease.lastError ?? 'attempts exhausted';
      const written = await store.markFailed(renderId, attempt, error);
      await lease.fail(error, { retry: false });
      if (written) {
        await publish('failed', 0);
        settled('failed');
      }
      return;
    }
    if (lease.signal.aborted) {
      if (await store.markCancelled(renderId, attempt)) await publish('cancelled', 0);
      await lease.complete();
      settled('cancelled');
      return;
    }
    if (!(await store.markRunning(renderId, attempt))) {
      // Already final (cancelled before it started) or a newer attempt holds it.
      await lease.complete();
      settled('lost');
      return;
    }
    await publish('running', 0);

    const onCancel = () => controller.abort('cancelled' satisfies StopReason);
    lease.signal.addEventListener('abort', onCancel, { once: true });
    let latest: RenderProgress = { phase: 'probing', progress: 0 };
    const heartbeat = setInterval(() => {
      lease.heartbeat().then(
        (result) => {
          if (result === 'lost') controller.abort('lost' satisfies StopReason);
        },
        (error: unknown) =>
          logger.warn({ err: errorMessage(error), renderId }, 'heartbeat failed; retrying'),
      );
    }, this.options.heartbeatIntervalMs);
    const progressTimer = setInterval(() => {
      if (controller.signal.aborted) return;
      void publish('running', latest.progress, {
        ...(latest.fps !== undefined ? { fps: latest.fps } : {}),
        ...(latest.etaSeconds !== undefined ? { etaSeconds: latest.etaSeconds } : {}),
      });
    }, this.options.progressIntervalMs);
    const storeTimer = setInterval(() => {
      store.updateProgress(renderId, attempt, latest.progress).then(
        (held) => {
          if (!held) controller.abort('lost' satisfies StopReason);
        },
        (error: unknown) =>
          logger.warn({ err: errorMessage(error), renderId }, 'progress write failed'),
      );
    }, this.options.storeProgressIntervalMs);

    const keys = renderOutputKeys(projectId, renderId);
    let scratch: string | undefined;
    try {
      await mkdir(this.options.scratchDir, { recursive: true });
      scratch = await mkdtemp(join(this.options.scratchDir, `reelroom-job-${renderId}-`));
      const videoPath = join(scratch, 'output.mp4');
      const thumbnailPath = join(scratch, 'thumbnail.png');
      const result = await this.options.renderer.render({
        spec,
        projectId,
        assets: this.scratchAssets(join(scratch, 'inputs')),
        videoPath,
        thumbnailPath,
        signal: controller.signal,
        onProgress: (progress) => {
          latest = progress;
        },
      });
      // Outputs go up only once FFmpeg is done with them; the thumbnail first, so a video under
      // its key always has its thumbnail. A taken-over job uploads nothing.
      if (controller.signal.aborted) throw controller.signal.reason;
      const { files } = this.options;
      await files.upload(keys.thumbnailKey, thumbnailPath, {
        contentType: 'image/png',
        move: true,
      });
      await files.upload(keys.videoKey, videoPath, { contentType: 'video/mp4', move: true });
      stopTimers();
      const output = { ...keys, durationSec: result.durationSec, bytes: result.bytes };
      this.options.crashPoint('render.worker.before-verdict');
      if (await store.markCompleted(renderId, attempt, output)) {
        this.options.crashPoint('render.worker.after-verdict');
        await publish('completed', 1, { etaSeconds: 0 });
        settled('completed');
      } else {
        settled('lost');
      }
      await lease.complete();
    } catch (error) {
      stopTimers();
      const reason = controller.signal.aborted
        ? (controller.signal.reason as StopReason)
        : undefined;
      if (reason === 'cancelled') {
        if (await store.markCancelled(renderId, attempt))
          await publish('cancelled', latest.progress);
        await lease.complete();
        settled('cancelled');
      } else if (reason === 'lost') {
        logger.warn({ renderId, attempt }, 'render taken over by another worker; stopped');
        settled('lost');
      } else if (reason === 'shutdown') {
        const requeued = await store.markQueued(renderId, attempt);
        await lease.release();
        if (requeued) await publish('queued', 0);
        settled('handed-back');
      } else {
        await this.failed(lease, error, publish, settled);
      }
    } finally {
      stopTimers();
      if (scratch) {
        await rm(scratch, { recursive: true, force: true }).catch((error: unknown) =>
          logger.warn({ err: errorMessage(error), renderId }, 'scratch directory not removed'),
        );
      }
    }

    function stopTimers() {
      clearInterval(heartbeat);
      clearInterval(progressTimer);
      clearInterval(storeTimer);
      lease.signal.removeEventListener('abort', onCancel);
    }
  }

  /** The job's inputs, each downloaded once into `directory` when the renderer asks for it. */
  private scratchAssets(directory: string): AssetResolver {
    const { assets, files } = this.options;
    const copies = new Map<string, Promise<ResolvedAsset | null>>();
    const download = async (projectId: string, assetId: string) => {
      const stored = await assets.locate(projectId, assetId);
      if (!stored) return null;
      const path = join(directory, `${copies.size}-${basename(stored.key)}`);
      await files.localCopy(stored.key, path);
      return { id: stored.id, kind: stored.kind, path };
    };
    return {
      resolve(projectId, assetId) {
        let copy = copies.get(assetId);
        if (!copy) {
          copy = download(projectId, assetId);
          copies.set(assetId, copy);
        }
        return copy;
      },
    };
  }

  private async failed(
    lease: JobLease<RenderJobData>,
    error: unknown,
    publish: (status: JobStatus, progress: number) => Promise<void>,
    settled: (outcome: RenderSettledEvent['outcome']) => void,
  ): Promise<void> {
    const { store, logger } = this.options;
    const { renderId } = lease.data;
    const message = errorMessage(error);
    // The database's verdict first (a final `failed` commits with its refund), then the
    // lease: a crash in between leaves a row the queue's next delivery or the reconciler
    // agrees with, never a `running` row for a job the queue has given up on.
    const retry = lease.willRetry(!isUnrecoverable(error));
    const written = retry
      ? await store.markQueued(renderId, lease.attempt, message)
      : await store.markFailed(renderId, lease.attempt, message);
    this.options.crashPoint('render.worker.after-verdict');
    const result = await lease.fail(error, { retry });
    logger.warn(
      { renderId, attempt: lease.attempt, err: message, outcome: result.outcome },
      'render failed',
    );
    if (result.outcome === 'retry') {
      if (written) await publish('queued', 0);
      settled('retrying');
    } else if (result.outcome === 'dead') {
      // A cancel that arrived meanwhile makes the queue give up although attempts were left.
      const failed = retry ? await store.markFailed(renderId, lease.attempt, message) : written;
      if (failed) await publish('failed', 0);
      settled('failed');
    } else {
      settled('lost');
    }
  }

  private async publish(projectId: string, event: RenderProgressEvent): Promise<void> {
    try {
      await this.options.publisher?.emit(projectId, 'render:progress', event);
    } catch (error) {
      // Progress is best effort; the job's status is in the store either way.
      this.options.logger.warn(
        { err: errorMessage(error), renderId: event.renderId },
        'publishing render progress failed',
      );
    }
  }

  /**
   * Stops taking jobs, waits up to `graceMs` (default 10 000) for running renders, then stops
   * the rest and hands them back to the queue. Safe to call twice.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.stopTaking.abort();
      this.slotFreed?.();
      await this.loop;
      const all = () => Promise.all([...this.running.values()].map((job) => job.promise));
      const graceMs = options.graceMs ?? 10_000;
      const timedOut = await Promise.race([
        all().then(() => false),
        new Promise<boolean>((resolve) => setTimeout(resolve, graceMs, true).unref()),
      ]);
      if (timedOut) {
        for (const job of this.running.values()) job.stop('shutdown');
        await all();
      }
    })();
    return this.closing;
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
