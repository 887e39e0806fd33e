import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { AccessTokens } from './auth/access-tokens.ts';
import { AccountService } from './auth/account-service.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { RefreshTokens } from './auth/refresh-tokens.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { createApp } from './http/app.ts';
import { ProjectService } from './projects/project-service.ts';
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
};

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
  const workspaces = new WorkspaceService(database.db);
  const projects = new ProjectService(database.db, workspaces);
  const limiter = new LoginLimiter({ redis, keyPrefix: config.redisKeyPrefix });
  const accounts = new AccountService(
    database.db,
    accessTokens,
    new RefreshTokens(database.db),
    limiter,
    workspaces,
    {},
    (error) => logger.error({ err: error }, 'account hook failed'),
  );
  const services: Services = {
    database,
    logger,
    accessTokens,
    accounts,
    workspaces,
    projects,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    readiness: [
      { name: 'database', check: () => database.ping() },
      ...(redis ? [{ name: 'redis', check: async () => void (await redis.ping()) }] : []),
    ],
  };

  const app = createApp(services);
  const httpServer = createAdaptorServer({ fetch: app.fetch, hostname: config.host }) as Server;
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Stop accepting; idle keep-alive sockets go now, busy ones when their response is sent.
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const grace = setTimeout(() => httpServer.closeAllConnections(), config.shutdownGraceMs);
      await stopped;
      clearTimeout(grace);
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
