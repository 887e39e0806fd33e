export type {
  AssetLocator,
  AssetResolver,
  RenderFiles,
  ResolvedAsset,
  StoredAsset,
} from './asset-resolver.ts';
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
export { FontMetrics } from './font-metrics.ts';
export type {
  DallE3Quality,
  GeneratedImage,
  GptImageQuality,
  ImageGenerationErrorKind,
  ImageGenerationRequest,
  ImageGenerator,
  ImageUsage,
  OpenAIImageGeneratorOptions,
  OpenAIImageModel,
} from './image-generator.ts';
export {
  ImageGenerationError,
  OPENAI_IMAGE_SIZES,
  OpenAIImageGenerator,
  thumbnailImagePrompt,
} from './image-generator.ts';
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
  JobQueueStats,
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
  RenderMemoryEstimate,
  RenderMemoryImage,
  RenderMemoryInput,
} from './render-memory.ts';
export {
  bytesPerPixel,
  DEFAULT_RENDER_MEMORY_BUDGET_BYTES,
  describeBytes,
  estimateRenderMemory,
  MAX_AUTO_ENCODER_THREADS,
  MAX_DECODED_BYTES_PER_PIXEL,
} from './render-memory.ts';
export type {
  Renderer,
  RenderSettledEvent,
  RenderWorkerPoolOptions,
  WorkerLogger,
} from './render-worker-pool.ts';
export { RenderWorkerPool } from './render-worker-pool.ts';
export type { RoomEventPublisher } from './room-event-publisher.ts';
export type {
  ThumbnailBackground,
  ThumbnailColorBackground,
  ThumbnailGradientBackground,
  ThumbnailImageBackground,
  ThumbnailMakerOptions,
  ThumbnailRequest,
  ThumbnailResult,
  TitleLayout,
} from './thumbnail-maker.ts';
export {
  layoutTitle,
  MAX_THUMBNAIL_INPUT_SIDE,
  MAX_TITLE_LINES,
  makeThumbnail,
  THUMBNAIL_HEIGHT,
  THUMBNAIL_WIDTH,
  ThumbnailMaker,
} from './thumbnail-maker.ts';
