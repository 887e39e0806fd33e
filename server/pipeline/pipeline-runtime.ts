import { eq } from 'drizzle-orm';
import type OpenAI from 'openai';
import type { Logger } from 'pino';
import type { RedisConnectionFactory } from '../../realtime/index.ts';
import {
  type FfmpegBinaries,
  type JobQueue,
  type JobQueueOptions,
  MemoryJobQueue,
  OpenAIImageGenerator,
  RedisJobQueue,
  type RoomEventPublisher,
  ThumbnailMaker,
} from '../../render-farm/index.ts';
import {
  chooseSpeechEngine,
  detectSpeechEngines,
  type SpeechEngine,
  type SpeechProvider,
} from '../../render-farm/speech/index.ts';
import type { Billing } from '../billing/index.ts';
import type { CoachProvider, PriceTable } from '../coach/index.ts';
import { ConfigError } from '../config.ts';
import { type Database, tables } from '../db/index.ts';
import type { AssetService } from '../renders/asset-service.ts';
import type { RenderService } from '../renders/render-service.ts';
import type { FileStorage } from '../storage/index.ts';
import { enqueuePipelineStepHandler } from './pipeline-outbox.ts';
import { pipelineReconcilePass } from './pipeline-reconciliation.ts';
import { PipelineService } from './pipeline-service.ts';
import type { StepDependencies } from './pipeline-steps.ts';
import type { PipelineStepJobData } from './pipeline-store.ts';
import { PipelineStepWorker } from './pipeline-worker.ts';

export interface PipelineRuntimeOptions {
  database: Database;
  logger: Logger;
  /** The process's Redis connections; absent: the in-process queue (embedded mode). */
  redis?: RedisConnectionFactory | undefined;
  /** The queue lives under `<prefix>:pipeline`. Default `reelroom`. */
  redisKeyPrefix?: string | undefined;
  billing: Billing;
  assets: AssetService;
  storage: FileStorage;
  renders: RenderService;
  coach: CoachProvider;
  prices: PriceTable;
  ffmpeg: FfmpegBinaries;
  publisher: RoomEventPublisher;
  readScript: (projectId: string) => Promise<string>;
  editDocument: StepDependencies['editDocument'];
  paymentsConfigured: boolean;
  /** Publishing to YouTube (the publish step); absent: it fails with `publish_not_configured`. */
  youtube?: StepDependencies['publisher'];
  onCommitted: () => void;
  /** TTS_PROVIDER; default `offline` (Festival, else flite, else espeak-ng from npm). */
  speechProvider?: SpeechProvider | undefined;
  /** A speech engine of the caller's (tests); replaces `speechProvider`. */
  speechEngine?: SpeechEngine | undefined;
  /** TTS_VOICE: the voice of the engine `speechProvider` names (not of `offline`'s choice). */
  speechVoice?: string | undefined;
  /** TTS_MODEL: OpenAI's speech model. Default `tts-1`. */
  speechModel?: string | undefined;
  /**
   * The OpenAI client the composition root built from OPENAI_API_KEY/OPENAI_BASE_URL. With it,
   * `speechProvider` defaults to `openai`.
   */
  openai?: OpenAI | undefined;
  /** Thumbnails get an OpenAI image as background (needs `openai`). Default false. */
  images?: boolean | undefined;
  videoSpendLimitUsd?: number | undefined;
  dailySpendLimitUsd?: number | undefined;
  /** Run step workers on this node. Default true: every API node runs them (see README). */
  workers?: boolean | undefined;
  concurrency?: number | undefined;
  queueOptions?: JobQueueOptions | undefined;
  jobDeadlineMs?: number | undefined;
  reconcileGraceMs?: number | undefined;
}

export interface PipelineRuntime {
  service: PipelineService;
  queue: JobQueue<PipelineStepJobData>;
  worker: PipelineStepWorker | undefined;
  outboxHandler: ReturnType<typeof enqueuePipelineStepHandler>;
  reconcilePass: ReturnType<typeof pipelineReconcilePass>;
  close(): Promise<void>;
}

/**
 * The engine TTS_PROVIDER asks for; one that is not installed (or `openai` without a client)
 * stops start-up with one line naming the variable.
 */
function chooseEngineOrStop(options: Parameters<typeof chooseSpeechEngine>[0]): SpeechEngine {
  try {
    return chooseSpeechEngine(options);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: TTS_PROVIDER: ${(error as Error).message}`);
  }
}

/** The pipeline queue name under a key prefix. */
export const pipelineQueuePrefix = (prefix = 'reelroom') => `${prefix}:pipeline`;

/**
 * The pipeline on an API node: its queue (`<prefix>:pipeline`, Redis Streams, or in-process in
 * embedded mode), the service the routes call and the step workers. Step workers run on API
 * nodes because the script step writes into the live Yjs document and every step talks to the
 * room; the render step hands its video to the render farm's workers through the render queue.
 */
export async function startPipelineRuntime(
  options: PipelineRuntimeOptions,
): Promise<PipelineRuntime> {
  const log = options.logger.child({ part: 'pipeline' });
  const runWorkers = options.workers ?? true;
  const queue: JobQueue<PipelineStepJobData> = options.redis
    ? new RedisJobQueue<PipelineStepJobData>({
        redis: options.redis,
        prefix: pipelineQueuePrefix(options.redisKeyPrefix),
        prefetch: runWorkers,
        logger: log,
        ...options.queueOptions,
      })
    : new MemoryJobQueue<PipelineStepJobData>(options.queueOptions);
  const service = new PipelineService({
    db: options.database.db,
    queue,
    billing: options.billing,
    readScript: options.readScript,
    publishProgress: (projectId, event) =>
      options.publisher.emit(projectId, 'pipeline:progress', event),
    onCommitted: options.onCommitted,
    paymentsConfigured: options.paymentsConfigured,
  });
  let worker: PipelineStepWorker | undefined;
  let speech: SpeechEngine | undefined;
  if (runWorkers) {
    const provider = options.speechProvider ?? (options.openai ? 'openai' : 'offline');
    const engineOf = {
      openai: 'openai',
      festival: 'festival',
      flite: 'flite',
      espeak: 'espeak-wasm',
      offline: undefined,
    } as const;
    const voiceFor = engineOf[provider];
    speech =
      options.speechEngine ??
      chooseEngineOrStop({
        provider,
        installed:
          provider === 'openai' || provider === 'espeak'
            ? { festival: null, flite: null }
            : await detectSpeechEngines({ searchPath: process.env.PATH ?? '' }),
        ...(options.openai ? { openai: options.openai } : {}),
        ...(options.speechModel ? { openaiOptions: { model: options.speechModel } } : {}),
        ...(options.speechVoice && voiceFor ? { voices: { [voiceFor]: options.speechVoice } } : {}),
      });
    worker = new PipelineStepWorker({
      queue,
      store: service.store,
      billing: options.billing,
      publisher: options.publisher,
      logger: log,
      onCommitted: options.onCommitted,
      project: async (projectId) => {
        const [project] = await options.database.db
          .select({ title: tables.projects.title, topic: tables.projects.topic })
          .from(tables.projects)
          .where(eq(tables.projects.id, projectId));
        return project ?? null;
      },
      steps: {
        readScript: options.readScript,
        editDocument: options.editDocument,
        coach: options.coach,
        prices: options.prices,
        speech,
        ...(options.images && options.openai
          ? { images: new OpenAIImageGenerator({ client: options.openai }) }
          : {}),
        ffmpeg: options.ffmpeg,
        thumbnails: new ThumbnailMaker({
          ffmpegPath: options.ffmpeg.ffmpegPath,
          ffprobePath: options.ffmpeg.ffprobePath,
        }),
        assets: options.assets,
        storage: options.storage,
        renders: options.renders,
        publisher: options.youtube,
      },
      ...(options.videoSpendLimitUsd !== undefined
        ? { videoSpendLimitUsd: options.videoSpendLimitUsd }
        : {}),
      ...(options.dailySpendLimitUsd !== undefined
        ? { dailySpendLimitUsd: options.dailySpendLimitUsd }
        : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
    worker.start();
    log.info({ consumer: worker.consumer, speech: speech.id }, 'pipeline step workers started');
  }
  let closing: Promise<void> | undefined;
  return {
    service,
    queue,
    worker,
    outboxHandler: enqueuePipelineStepHandler(service.store, queue),
    reconcilePass: pipelineReconcilePass({
      store: service.store,
      queue,
      billing: options.billing,
      onCommitted: options.onCommitted,
      ...(options.jobDeadlineMs ? { deadlineMs: options.jobDeadlineMs } : {}),
      ...(options.reconcileGraceMs !== undefined ? { graceMs: options.reconcileGraceMs } : {}),
    }),
    close() {
      closing ??= (async () => {
        try {
          await worker?.close();
        } finally {
          await speech?.close().catch(() => undefined);
          await queue.close();
        }
      })();
      return closing;
    },
  };
}
