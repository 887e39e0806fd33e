export type { AssetResolver, ResolvedAsset } from './asset-resolver.ts';
export {
  errorMessage,
  isUnrecoverable,
  LeaseLostError,
  RenderAbortedError,
  RenderFailedError,
  RenderTimeoutError,
  UnrecoverableError,
} from './errors.ts';
export type { FfmpegBinaries, ResolveFfmpegOptions } from './ffmpeg-binaries.ts';
export { defaultFontFile, resolveFfmpegBinaries } from './ffmpeg-binaries.ts';
export type {
  FfmpegRendererOptions,
  RenderProgress,
  RenderRequest,
  RenderResult,
} from './ffmpeg-renderer.ts';
export { FfmpegRenderer } from './ffmpeg-renderer.ts';
export type {
  AddJobOptions,
  AddJobResult,
  CancelResult,
  DeadLetter,
  FailResult,
  HeartbeatResult,
  JobLease,
  JobQueue,
  JobQueueOptions,
  QueueJobInfo,
  QueueJobState,
  TakeOptions,
} from './job-queue.ts';
export { backoffDelay, DEFAULT_JOB_QUEUE_OPTIONS } from './job-queue.ts';
export type { ProbedMedia } from './media-probe.ts';
export { probeFile, probeMedia } from './media-probe.ts';
export { MemoryJobQueue } from './memory-job-queue.ts';
export type { RedisJobQueueOptions } from './redis-job-queue.ts';
export { RedisJobQueue } from './redis-job-queue.ts';
export type { RenderJobData } from './render-job.ts';
export { RENDER_QUEUE_PREFIX, renderOutputKeys, renderQueuePrefix } from './render-job.ts';
export type { RenderJobStore, RenderOutput } from './render-job-store.ts';
export type {
  Renderer,
  RenderSettledEvent,
  RenderWorkerPoolOptions,
  WorkerLogger,
} from './render-worker-pool.ts';
export { RenderWorkerPool } from './render-worker-pool.ts';
export type { RoomEventPublisher } from './room-event-publisher.ts';
