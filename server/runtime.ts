import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { attachRealtime, type Realtime, type RealtimeOptions } from '../realtime/index.ts';
import {
  type JobQueue,
  type JobQueueOptions,
  MemoryJobQueue,
  RedisJobQueue,
  resolveFfmpegBinaries,
} from '../render-farm/index.ts';
import type { SpeechEngine, SpeechProvider } from '../render-farm/speech/index.ts';
import { yjsDocName } from '../shared/yjs-docs.ts';
import { AccessTokens } from './auth/access-tokens.ts';
import { AccountService, USER_DELETED_CHANNEL } from './auth/account-service.ts';
import { GoogleSignIn } from './auth/google-sign-in.ts';
import { LoginLimiter, type LoginLimits } from './auth/login-limiter.ts';
import { RefreshTokens } from './auth/refresh-tokens.ts';
import { SignupLimiter, type SignupLimits } from './auth/signup-limiter.ts';
import { Billing, type BillingSettings } from './billing/index.ts';
import {
  COACH_REPLY_QUEUE_DEFAULTS,
  type CoachReplyJob,
  type CoachReplyTuning,
  CoachService,
  coachChatHooks,
  coachReplyQueuePrefix,
  createCoachProvider,
  PlanTemplates,
  PriceTable,
  resolveCoachConfig,
} from './coach/index.ts';
import type { Config } from './config.ts';
import { crashPoint } from './crash-points.ts';
import type { Database } from './db/index.ts';
import { createApp } from './http/app.ts';
import { answerClientErrors } from './http/client-error.ts';
import { openInfrastructure } from './infrastructure.ts';
import { MeasuredDocumentStore, Metrics } from './metrics/index.ts';
import { OutboxDispatcher } from './outbox/index.ts';
import { startPipelineRuntime } from './pipeline/index.ts';
import { ProjectService } from './projects/project-service.ts';
import { RealtimeAccess, YjsDocumentStore } from './realtime/index.ts';
import { Reconciler } from './reconciler/index.ts';
import { enqueueRenderHandler, renderReconcilePass } from './renders/index.ts';
import { refuseWhileRendering, removeProjectFiles } from './renders/project-cleanup.ts';
import { RenderLinks } from './renders/render-links.ts';
import { startRenderRuntime } from './renders/render-runtime.ts';
import type { Services } from './services.ts';
import { orphanSweepPass } from './storage/index.ts';
import { MemberLimiter, type MemberLimits } from './workspaces/member-limiter.ts';
import { WorkspaceService } from './workspaces/workspace-service.ts';
import {
  loadQuotaCosts,
  type QuotaCosts,
  TokenCipher,
  YoutubePublisher,
  YoutubeQuota,
  YoutubeService,
} from './youtube/index.ts';

/** What a running node needs from the configuration. Tests pass these directly. */
export type RuntimeConfig = Pick<
  Config,
  | 'port'
  | 'host'
  | 'dataDir'
  | 'databaseUrl'
  | 'redisUrl'
  | 'jwtSecret'
  | 'trustProxy'
  | 'shutdownGraceMs'
> & {
  /** Origins allowed for browsers (CORS_ORIGINS); absent: same origin only. */
  corsOrigins?: string[] | undefined;
  /** Abuse limits (signups per IP, logins, member additions); absent: each limiter's defaults. */
  limits?: {
    signup?: Partial<SignupLimits>;
    login?: Partial<LoginLimits>;
    members?: Partial<MemberLimits>;
  };
  /** METRICS_TOKEN: the bearer token `GET /metrics` requires; absent: `/metrics` is open. */
  metricsToken?: string | undefined;
  /** JOB_DEADLINE_HOURS in ms: unfinished jobs older than this are failed and refunded. Default 6 h. */
  jobDeadlineMs?: number | undefined;
  /** RECONCILE_INTERVAL_SECONDS in ms. Default 30 s. */
  reconcileIntervalMs?: number | undefined;
  /** Rows changed more recently than this are left to their writer by the reconciler (tests: 0). */
  reconcileGraceMs?: number | undefined;
  /** How often the outbox is swept without a kick. Default 1 s. */
  outboxSweepIntervalMs?: number | undefined;
  /** OUTBOX_LEASE_SECONDS in ms: how long a claimed entry stays with its dispatcher. Default 30 s. */
  outboxLeaseMs?: number | undefined;
  /** PIPELINE_LEASE_SECONDS in ms: a step's lease on the pipeline queue. Default 30 s. */
  pipelineLeaseMs?: number | undefined;
  /** Prefix for every Redis key this node writes; tests isolate themselves with it. Default `reelroom`. */
  redisKeyPrefix?: string;
  /** Tuning of the realtime layer (Yjs grace periods, Socket.IO limits); tests and benches. */
  realtime?: RealtimeTuning;
  /** STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE; absent: no payments, credits still work. */
  stripe?: Partial<Config['stripe']>;
  /** Prices, packages, plans and grants; absent: the SPEC's defaults. */
  billing?: BillingSettings;
  /** GOOGLE_*: OAuth clients (quota pools) and GOOGLE_API_BASE; absent: publishing off. */
  google?: Partial<Config['google']> | undefined;
  /** PUBLIC_URL: OAuth redirect URIs and the web app; default `http://localhost:PORT`. */
  publicUrl?: string | undefined;
  /** TOKEN_ENCRYPTION_KEY; absent: derived from the JWT secret. */
  tokenEncryptionKey?: string | undefined;
  /** Upload chunk size and retry backoff of the publish step, and the quota's clock (tests). */
  youtubeTuning?:
    | { chunkBytes?: number; backoffMs?: number; now?: () => Date; quotaCosts?: QuotaCosts }
    | undefined;
  /** STORAGE_DIR; default `dataDir/storage`. */
  storageDir?: string | undefined;
  /** STORAGE_URL (`s3://bucket/prefix`) and S3_*: object storage instead of STORAGE_DIR. */
  storageUrl?: string | undefined;
  s3?: Partial<Config['s3']> | undefined;
  /** Stored files no row refers to are removed once this old. Default 1 h (tests: shorter). */
  storageSweepGraceMs?: number | undefined;
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
  /** The coach's provider, models and limits (COACH_*, OPENAI_*, ANTHROPIC_*); absent: offline coach, default limits. */
  coach?: Partial<Config['coach']> | undefined;
  /** The coach's reply workers and reply queue (`<prefix>:coach-replies`); tests shorten the times. */
  coachReplies?: (CoachReplyTuning & { queue?: JobQueueOptions | undefined }) | undefined;
  /** RENDER_CONCURRENCY of in-process render workers. Default 1. */
  renderConcurrency?: number | undefined;
  /** RENDER_MEMORY_BUDGET_MIB in bytes: submit refuses specs estimated above it. Default 512 MiB. */
  renderMemoryBudgetBytes?: number | undefined;
  /** RENDER_SEGMENT_CACHE_DIR; default `dataDir/cache/segments`. */
  segmentCacheDir?: string | undefined;
  /**
   * Run render workers in this process. Default: in embedded mode only (no REDIS_URL); with
   * Redis, `npm run start:worker` processes render.
   */
  renderWorkers?: boolean | undefined;
  /** The pipeline: spend limits (VIDEO_SPEND_LIMIT_USD, DAILY_SPEND_LIMIT_USD), TTS, and a speech engine of a test's. */
  pipeline?:
    | {
        videoSpendLimitUsd?: number | undefined;
        dailySpendLimitUsd?: number | undefined;
        speechProvider?: SpeechProvider | undefined;
        speechEngine?: SpeechEngine | undefined;
        /** TTS_VOICE and TTS_MODEL (OpenAI's speech model). */
        speechVoice?: string | undefined;
        speechModel?: string | undefined;
        /** OPENAI_API_KEY, OPENAI_BASE_URL: OpenAI TTS and thumbnail images when keyed. */
        openai?: { apiKey?: string | undefined; baseUrl?: string | undefined } | undefined;
        workers?: boolean | undefined;
      }
    | undefined;
};

/** The parts of `RealtimeOptions` a node's configuration may tune. */
export type RealtimeTuning = Pick<RealtimeOptions, 'documents' | 'yjs' | 'socketIo'>;

export interface RunningNode {
  /** `http://host:port` the node listens on. */
  url: string;
  httpServer: Server;
  services: Services;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to the grace period),
   * then closes Redis and the database. Safe to call twice.
   */
  close(): Promise<void>;
}

/**
 * Builds one API node from its parts: the database (PGlite under DATA_DIR, or Postgres),
 * migrations, Redis when configured, the services and the HTTP server. This is the
 * composition root; nothing below it reads the environment.
 */
export async function startNode(
  config: RuntimeConfig,
  logger: Logger,
  parts: { database?: Database } = {},
): Promise<RunningNode> {
  // Opened once for the process and handed to the components as clients. Tests hand in a
  // database of their own (in-memory PGlite, a throwaway Postgres database).
  const infrastructure = await openInfrastructure(config, logger, {
    database: parts.database,
    redisName: 'api node',
  });
  const { database, storage } = infrastructure;
  const redisConnections = infrastructure.redis;
  // The shared client (login limiter, readiness) fails fast: during an outage a request that
  // needs Redis gets its error at once and answers 503, instead of waiting in node-redis's
  // offline queue until Redis is back.
  const redis = redisConnections?.shared;
  await database.migrate();

  // One registry per node: HTTP middleware, the document store, the coach and the render
  // workers feed it; realtime and the queue are read when `/metrics` is scraped.
  const metrics = new Metrics({ logger: logger.child({ part: 'metrics' }) });
  const accessTokens = new AccessTokens(config.jwtSecret);
  // Before anything opens connections: a provider named without its key stops start-up here.
  const coachConfig = resolveCoachConfig(config.coach);
  const coachProvider = await createCoachProvider(coachConfig);
  // Abuse limits count in Redis when there is one, so every API node sees the same counters.
  const limitStore = { redis, keyPrefix: config.redisKeyPrefix };
  const workspaces = new WorkspaceService(database.db, {
    memberLimiter: new MemberLimiter({ ...limitStore, ...config.limits?.members }),
  });
  const projects = new ProjectService(database.db, workspaces);
  const limiters = {
    login: new LoginLimiter({ ...limitStore, ...config.limits?.login }),
    signup: new SignupLimiter({ ...limitStore, ...config.limits?.signup }),
  };
  const billing = new Billing({
    db: database.db,
    workspaces,
    logger: logger.child({ part: 'billing' }),
    settings: config.billing,
    stripe: config.stripe,
  });
  const accounts = new AccountService(
    database.db,
    accessTokens,
    new RefreshTokens(database.db),
    limiters,
    workspaces,
    billing.accountHooks,
    (error) => logger.error({ err: error }, 'account hook failed'),
  );
  // A user deleted by any means is forgotten by every node's account cache at once (the
  // `users` delete trigger notifies), so their still-valid access tokens stop working.
  await database.listen(USER_DELETED_CHANNEL, (userId) => accounts.forget(userId));

  // The HTTP server exists before the app so realtime can mount on it (same port); requests
  // reach the app through this indirection once it is built below.
  let app: ReturnType<typeof createApp> | undefined;
  const httpServer = createAdaptorServer({
    fetch: (request, env) => app!.fetch(request, env),
    hostname: config.host,
  }) as Server;
  answerClientErrors(httpServer);
  const realtime: Realtime = await attachRealtime(httpServer, {
    documentStore: new MeasuredDocumentStore(new YjsDocumentStore(database.db), metrics),
    access: new RealtimeAccess({ tokens: accessTokens, accounts, projects }),
    ...(redisConnections
      ? { redis: { connections: redisConnections, keyPrefix: config.redisKeyPrefix ?? 'reelroom' } }
      : {}),
    ...config.realtime,
    socketIo: { ...config.realtime?.socketIo, allowedOrigins: config.corsOrigins ?? [] },
    logger: logger.child({ part: 'realtime' }),
  });
  metrics.watchRealtime(realtime);
  if (database.threadMemory) metrics.watchDatabaseThread(database.threadMemory);
  // Open Yjs and Socket.IO connections follow role changes and removals on every node.
  // (through the outbox entry each change writes; see `membership.changed` below).
  workspaces.onMembershipChanged(() => outbox.kick());

  // Renders: in embedded mode the workers run here and publish through this node's hub.
  const renderRuntime = await startRenderRuntime({
    database,
    logger,
    storage,
    redis: redisConnections,
    redisKeyPrefix: config.redisKeyPrefix,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    workers: config.renderWorkers,
    concurrency: config.renderConcurrency,
    memoryBudgetBytes: config.renderMemoryBudgetBytes,
    // Embedded mode keeps encoded scenes under DATA_DIR, so a pipeline re-run after one
    // scene's edit encodes that scene only.
    segmentCacheDir: config.segmentCacheDir ?? path.join(config.dataDir, 'cache', 'segments'),
    publisher: realtime.emitter,
    charges: billing.renderCharges,
    onCommitted: () => outbox.kick(),
    crashPoint,
  });

  // The pipeline: step workers run on every API node (the script step edits the live Yjs
  // document here); the render step goes through the render farm like any render. One OpenAI
  // client for its TTS and images, when keyed (or TTS_PROVIDER=openai on a local server).
  const pipelineOpenAI = config.pipeline?.openai;
  // The SDK is loaded only then: megabytes of heap a node without the key never needs.
  const openaiClient =
    pipelineOpenAI?.apiKey ||
    (config.pipeline?.speechProvider === 'openai' && pipelineOpenAI?.baseUrl)
      ? new (await import('openai')).default({
          apiKey: pipelineOpenAI.apiKey ?? 'not-needed',
          ...(pipelineOpenAI.baseUrl ? { baseURL: pipelineOpenAI.baseUrl } : {}),
          timeout: coachConfig.timeoutMs,
          maxRetries: coachConfig.maxRetries,
        })
      : undefined;
  // Publishing: every configured OAuth client is its own quota pool.
  const googleClients =
    config.google?.clients ??
    (config.google?.clientId && config.google.clientSecret
      ? [{ clientId: config.google.clientId, clientSecret: config.google.clientSecret }]
      : []);
  const youtubeQuota = new YoutubeQuota(
    database.db,
    googleClients.map((c) => c.clientId),
    config.youtubeTuning?.quotaCosts ?? loadQuotaCosts(),
    config.youtubeTuning?.now,
  );
  const youtube = new YoutubeService({
    db: database.db,
    workspaces,
    clients: googleClients,
    apiBase: config.google?.apiBase,
    publicUrl: config.publicUrl ?? `http://localhost:${config.port}`,
    cipher: new TokenCipher({ key: config.tokenEncryptionKey, serviceSecret: config.jwtSecret }),
    quota: youtubeQuota,
    logger: logger.child({ part: 'youtube' }),
  });
  const youtubePublisher = youtube.configured
    ? new YoutubePublisher({
        db: database.db,
        storage: renderRuntime.storage,
        youtube,
        ...(config.youtubeTuning?.chunkBytes
          ? { chunkBytes: config.youtubeTuning.chunkBytes }
          : {}),
        ...(config.youtubeTuning?.backoffMs !== undefined
          ? { backoffMs: config.youtubeTuning.backoffMs }
          : {}),
      })
    : undefined;
  const pipelineRuntime = await startPipelineRuntime({
    database,
    logger,
    redis: redisConnections,
    redisKeyPrefix: config.redisKeyPrefix,
    billing,
    assets: renderRuntime.assets,
    storage: renderRuntime.storage,
    renders: renderRuntime.renders,
    coach: coachProvider,
    prices: PriceTable.load(),
    ffmpeg: resolveFfmpegBinaries({
      ...(config.ffmpegPath ? { ffmpegPath: config.ffmpegPath } : {}),
      ...(config.ffprobePath ? { ffprobePath: config.ffprobePath } : {}),
    }),
    publisher: realtime.emitter,
    readScript: (projectId) => realtime.getDocumentText(`project/${projectId}/script`),
    editDocument: (docName, edit) => realtime.editDocument(docName, edit),
    paymentsConfigured: Boolean(config.stripe?.secretKey),
    onCommitted: () => outbox.kick(),
    youtube: youtubePublisher,
    videoSpendLimitUsd: config.pipeline?.videoSpendLimitUsd,
    dailySpendLimitUsd: config.pipeline?.dailySpendLimitUsd,
    speechProvider: config.pipeline?.speechProvider,
    speechEngine: config.pipeline?.speechEngine,
    speechVoice: config.pipeline?.speechVoice,
    speechModel: config.pipeline?.speechModel,
    openai: openaiClient,
    images: Boolean(pipelineOpenAI?.apiKey),
    workers: config.pipeline?.workers,
    jobDeadlineMs: config.jobDeadlineMs,
    reconcileGraceMs: config.reconcileGraceMs,
    ...(config.pipelineLeaseMs ? { queueOptions: { leaseMs: config.pipelineLeaseMs } } : {}),
  });

  // What must follow a commit (a job onto the queue, a notice to every node, a deleted
  // project's files) is written to the outbox in the committing transaction and carried out
  // here; the sweep of any node carries out what a crashed node left.
  const outbox = new OutboxDispatcher({
    db: database.db,
    logger: logger.child({ part: 'outbox' }),
    handlers: {
      'render.enqueue': enqueueRenderHandler(renderRuntime.renders.store, renderRuntime.queue),
      'pipeline.step': pipelineRuntime.outboxHandler,
      'membership.changed': async ({ workspaceId, userId }) => {
        // The role as it is now, not as it was when the entry was written: entries carried
        // out late or out of order still leave every node with the current role.
        const role = await workspaces.roleOf(userId, workspaceId);
        await realtime.notifyMembershipChanged({ workspaceId, userId, role });
      },
      'project.deleted': async ({ projectId }) => {
        await removeProjectFiles(renderRuntime.storage, projectId);
        await realtime.notifyProjectDeleted(projectId);
      },
    },
    ...(config.outboxSweepIntervalMs ? { sweepIntervalMs: config.outboxSweepIntervalMs } : {}),
    ...(config.outboxLeaseMs ? { leaseMs: config.outboxLeaseMs } : {}),
    onLag: (seconds) => metrics.outboxLag.set(seconds),
  });
  // Every unfinished render is matched against the queue: at start (what a restart of this
  // node or of Redis left) and then periodically, on every node.
  const reconciler = new Reconciler({
    logger: logger.child({ part: 'reconciler' }),
    passes: [
      renderReconcilePass({
        db: database.db,
        store: renderRuntime.renders.store,
        queue: renderRuntime.queue,
        ...(config.jobDeadlineMs ? { deadlineMs: config.jobDeadlineMs } : {}),
        ...(config.reconcileGraceMs !== undefined ? { graceMs: config.reconcileGraceMs } : {}),
      }),
      pipelineRuntime.reconcilePass,
      // Files of uploads and renders that died half-way, once no row refers to them.
      orphanSweepPass({
        db: database.db,
        storage: renderRuntime.storage,
        ...(config.storageSweepGraceMs !== undefined
          ? { graceMs: config.storageSweepGraceMs }
          : {}),
      }),
    ],
    ...(config.reconcileIntervalMs ? { intervalMs: config.reconcileIntervalMs } : {}),
    onRepair: ({ kind, action }) => metrics.reconcilerRepairs.inc({ kind, action }),
  });

  metrics.watchQueue('renders', renderRuntime.queue);
  metrics.watchQueue('pipeline', pipelineRuntime.queue);
  // Worker processes (`npm run start:worker`) serve no /metrics: their renders are not timed.
  renderRuntime.pool?.on('settled', ({ outcome, durationMs }) =>
    metrics.renderDuration.observe({ outcome }, durationMs / 1000),
  );

  // The coach answers `chat:send` from the hub. Its replies are durable jobs on a queue of
  // their own (Redis Streams with Redis, in-process otherwise) that every node's reply workers
  // take; they stream through the room emitter and write decisions into the plan document.
  const coachQueueOptions = { ...COACH_REPLY_QUEUE_DEFAULTS, ...config.coachReplies?.queue };
  const coachQueue: JobQueue<CoachReplyJob> = redisConnections
    ? new RedisJobQueue<CoachReplyJob>({
        redis: redisConnections,
        prefix: coachReplyQueuePrefix(config.redisKeyPrefix),
        ...coachQueueOptions,
      })
    : new MemoryJobQueue<CoachReplyJob>(coachQueueOptions);
  metrics.watchQueue('coach-replies', coachQueue);
  const coach = new CoachService({
    db: database.db,
    projects,
    workspaces,
    room: realtime.emitter,
    plans: {
      edit: (projectId, edit) => realtime.editDocument(yjsDocName(projectId, 'plan'), edit),
      state: (projectId) => realtime.documents.getDocumentState(yjsDocName(projectId, 'plan')),
    },
    scripts: { text: (projectId) => realtime.getDocumentText(yjsDocName(projectId, 'script')) },
    queue: coachQueue,
    replies: config.coachReplies,
    provider: coachProvider,
    prices: PriceTable.load(),
    templates: PlanTemplates.load(),
    config: coachConfig,
    metrics,
    logger: logger.child({ part: 'coach' }),
  });
  realtime.setHooks(coachChatHooks(coach));

  // Deleting a project: refused while it renders; afterwards its files go, and its open
  // documents and rooms close on every node.
  projects.addDeleteGuard(refuseWhileRendering);
  projects.onDeleted(() => outbox.kick());

  const services: Services = {
    database,
    logger,
    accessTokens,
    accounts,
    workspaces,
    projects,
    billing,
    coach,
    realtime,
    renders: renderRuntime.renders,
    pipeline: pipelineRuntime.service,
    youtube,
    googleSignIn: googleClients[0]
      ? new GoogleSignIn({
          db: database.db,
          accounts,
          clientId: googleClients[0].clientId,
          createClient: () => youtube.oauthClient(googleClients[0]!.clientId),
          publicUrl: youtube.publicUrl,
        })
      : undefined,
    renderLinks: new RenderLinks(config.jwtSecret),
    assets: renderRuntime.assets,
    storage: renderRuntime.storage,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    metrics,
    metricsToken: config.metricsToken,
    readiness: [
      { name: 'database', check: () => database.ping() },
      ...(redis ? [{ name: 'redis', check: async () => void (await redis.ping()) }] : []),
    ],
  };

  app = createApp(services);
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    // Realtime holds Redis connections and timers that would keep the process alive.
    await renderRuntime.close(0).catch(() => undefined);
    await realtime.close().catch(() => undefined);
    throw error;
  }
  // Stripe events a crash left stored but unprocessed are picked up from here on, and so are
  // outbox entries and unfinished jobs.
  billing.start();
  outbox.start();
  reconciler.start();
  coach.start();
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // In-process render workers first: they finish or hand back their jobs while the
      // database and the room emitter are still there.
      // Pipeline step workers first: a step in flight goes back to the queue.
      await pipelineRuntime.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the pipeline');
      });
      try {
        await renderRuntime.close(config.shutdownGraceMs);
      } catch (error) {
        logger.error({ err: error }, 'error while closing the render workers');
      }
      // Replies in flight stop and go back to the queue while the room and the database are
      // still there.
      await coach.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the coach');
      });
      await coachQueue.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the coach reply queue');
      });
      // Realtime first: open websockets would keep the HTTP server from closing, and every
      // accepted Yjs update is stored before it lets go of the database.
      try {
        await realtime.close();
      } catch (error) {
        logger.error({ err: error }, 'error while closing realtime');
      }
      // Stop accepting; idle keep-alive sockets go now, busy ones when their response is sent.
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const grace = setTimeout(() => httpServer.closeAllConnections(), config.shutdownGraceMs);
      await stopped;
      clearTimeout(grace);
      // Events being applied finish before the database goes; queued ones stay pending, and
      // so do outbox entries.
      await billing.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing billing');
      });
      await reconciler.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the reconciler');
      });
      await outbox.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the outbox');
      });
      await infrastructure.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing');
      });
    })();
    return closing;
  };

  return { url, httpServer, services, close };
}
