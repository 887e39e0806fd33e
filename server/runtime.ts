import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { attachRealtime, type Realtime, type RealtimeOptions } from '../realtime/index.ts';
import { AccessTokens } from './auth/access-tokens.ts';
import { AccountService } from './auth/account-service.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { RefreshTokens } from './auth/refresh-tokens.ts';
import { Billing, type BillingSettings } from './billing/index.ts';
import {
  CoachService,
  coachChatHooks,
  createCoachProvider,
  PlanTemplates,
  PriceTable,
  RedisReplyLock,
  resolveCoachConfig,
} from './coach/index.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { createApp } from './http/app.ts';
import { ProjectService } from './projects/project-service.ts';
import { RealtimeAccess, YjsDocumentStore } from './realtime/index.ts';
import { refuseWhileRendering, removeProjectFiles } from './renders/project-cleanup.ts';
import { RenderLinks } from './renders/render-links.ts';
import { startRenderRuntime } from './renders/render-runtime.ts';
import type { Services } from './services.ts';
import { WorkspaceService } from './workspaces/workspace-service.ts';

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
  /** Prefix for every Redis key this node writes; tests isolate themselves with it. Default `reelroom`. */
  redisKeyPrefix?: string;
  /** Tuning of the realtime layer (Yjs grace periods, Socket.IO limits); tests and benches. */
  realtime?: RealtimeTuning;
  /** STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE; absent: no payments, credits still work. */
  stripe?: Partial<Config['stripe']>;
  /** Prices, packages, plans and grants; absent: the SPEC's defaults. */
  billing?: BillingSettings;
  /** STORAGE_DIR; default `dataDir/storage`. */
  storageDir?: string | undefined;
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
  /** The coach's provider, models and limits (COACH_*, OPENAI_*, ANTHROPIC_*); absent: offline coach, default limits. */
  coach?: Partial<Config['coach']> | undefined;
  /** RENDER_CONCURRENCY of in-process render workers. Default 1. */
  renderConcurrency?: number | undefined;
  /**
   * Run render workers in this process. Default: in embedded mode only (no REDIS_URL); with
   * Redis, `npm run start:worker` processes render.
   */
  renderWorkers?: boolean | undefined;
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

async function connectRedis(url: string, logger: Logger): Promise<RedisClientType> {
  const client: RedisClientType = createClient({ url });
  client.on('error', (error: unknown) => logger.error({ err: error }, 'redis connection error'));
  await client.connect();
  return client;
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
  // Tests hand in a database of their own (in-memory PGlite, a throwaway Postgres database).
  const database: Database =
    parts.database ??
    (await openDatabase(
      config.databaseUrl ? { url: config.databaseUrl } : { dataDir: `${config.dataDir}/pglite` },
    ));
  await database.migrate();
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;

  const accessTokens = new AccessTokens(config.jwtSecret);
  // Before anything opens connections: a provider named without its key stops start-up here.
  const coachConfig = resolveCoachConfig(config.coach);
  const coachProvider = createCoachProvider(coachConfig);
  const workspaces = new WorkspaceService(database.db);
  const projects = new ProjectService(database.db, workspaces);
  const limiter = new LoginLimiter({ redis, keyPrefix: config.redisKeyPrefix });
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
    limiter,
    workspaces,
    billing.accountHooks,
    (error) => logger.error({ err: error }, 'account hook failed'),
  );

  // The HTTP server exists before the app so realtime can mount on it (same port); requests
  // reach the app through this indirection once it is built below.
  let app: ReturnType<typeof createApp> | undefined;
  const httpServer = createAdaptorServer({
    fetch: (request, env) => app!.fetch(request, env),
    hostname: config.host,
  }) as Server;
  const realtime: Realtime = await attachRealtime(httpServer, {
    documentStore: new YjsDocumentStore(database.db),
    access: new RealtimeAccess({ tokens: accessTokens, accounts, projects }),
    ...(config.redisUrl
      ? { redis: { url: config.redisUrl, keyPrefix: config.redisKeyPrefix ?? 'reelroom' } }
      : {}),
    ...config.realtime,
    socketIo: { ...config.realtime?.socketIo, allowedOrigins: config.corsOrigins ?? [] },
    logger: logger.child({ part: 'realtime' }),
  });
  // Open Yjs and Socket.IO connections follow role changes and removals on every node.
  workspaces.onMembershipChanged((change) => {
    realtime.notifyMembershipChanged(change).catch((error: unknown) => {
      logger.error({ err: error, change }, 'realtime: publishing a membership change failed');
    });
  });

  // Renders: in embedded mode the workers run here and publish through this node's hub.
  const renderRuntime = await startRenderRuntime({
    database,
    logger,
    storageDir: config.storageDir ?? `${config.dataDir}/storage`,
    redisUrl: config.redisUrl,
    redisKeyPrefix: config.redisKeyPrefix,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    workers: config.renderWorkers,
    concurrency: config.renderConcurrency,
    publisher: realtime.emitter,
    charges: billing.renderCharges,
  });

  // The coach answers `chat:send` from the hub and streams replies through the room emitter.
  const coach = new CoachService({
    db: database.db,
    projects,
    workspaces,
    realtime,
    provider: coachProvider,
    prices: PriceTable.load(),
    templates: PlanTemplates.load(),
    config: coachConfig,
    logger: logger.child({ part: 'coach' }),
    ...(redis
      ? {
          replyLock: new RedisReplyLock({
            redis,
            keyPrefix: config.redisKeyPrefix ?? 'reelroom',
            logger: logger.child({ part: 'coach' }),
          }),
        }
      : {}),
  });
  realtime.setHooks(coachChatHooks(coach));

  // Deleting a project: refused while it renders; afterwards its files go, and its open
  // documents and rooms close on every node.
  projects.addDeleteGuard(refuseWhileRendering);
  projects.onDeleted(({ projectId }) => {
    removeProjectFiles(renderRuntime.storage, projectId).catch((error: unknown) => {
      logger.error({ err: error, projectId }, "removing a deleted project's files failed");
    });
    realtime.notifyProjectDeleted(projectId).catch((error: unknown) => {
      logger.error({ err: error, projectId }, 'realtime: publishing a project deletion failed');
    });
  });

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
    renderLinks: new RenderLinks(config.jwtSecret),
    assets: renderRuntime.assets,
    storage: renderRuntime.storage,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
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
  // Stripe events a crash left stored but unprocessed are picked up from here on.
  billing.start();
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // In-process render workers first: they finish or hand back their jobs while the
      // database and the room emitter are still there.
      try {
        await renderRuntime.close(config.shutdownGraceMs);
      } catch (error) {
        logger.error({ err: error }, 'error while closing the render workers');
      }
      // Replies in flight stop (partials kept) while the room and the database are still there.
      await coach.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing the coach');
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
      // Events being applied finish before the database goes; queued ones stay pending.
      await billing.close().catch((error: unknown) => {
        logger.error({ err: error }, 'error while closing billing');
      });
      const results = await Promise.allSettled([redis?.quit(), database.close()]);
      for (const result of results) {
        if (result.status === 'rejected')
          logger.error({ err: result.reason }, 'error while closing');
      }
    })();
    return closing;
  };

  return { url, httpServer, services, close };
}
