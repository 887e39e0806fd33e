import type { EventEmitter } from 'node:events';
import { createClient, type RedisClientType } from 'redis';
import { stderrLogger } from './logger.ts';

/** A node-redis client, as `createClient()` returns it (RESP3, no extra modules). */
export type RedisClient = RedisClientType;

export interface RedisConnectionSettings {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Required. */
  url: string;
  /**
   * Commands issued while the connection is down reject at once (`ClientOfflineError`, node-redis
   * `disableOfflineQueue`) instead of waiting in memory until it is back. Default true: whoever
   * waits on a command (an HTTP request, an ack) learns of the outage at once and can answer
   * 503. Set false for loops that would spin on instant failures (blocking reads, the Socket.IO
   * adapter's stream reader): their commands then wait for the reconnect.
   */
  failFast?: boolean;
  /**
   * Longest wait between two reconnection attempts, in ms. Default 1000: cheap for a few
   * connections per process, and it bounds how long a multi/exec (which node-redis queues even
   * with `failFast`) waits before the next failed attempt rejects it.
   */
  maxReconnectDelayMs?: number;
}

/** What connection logging needs: a pino logger, a RealtimeLogger or the worker pool's. */
export interface RedisConnectionLogger {
  info(context: object, message: string): void;
  error(context: object, message: string): void;
  debug?(context: object, message: string): void;
}

export interface RedisClientSettings extends RedisConnectionSettings {
  /** Names the connection in log lines (`realtime`, `render queue`). Required. */
  name: string;
  /** Where connection errors go. Default: stderr. */
  logger?: RedisConnectionLogger;
}

const DEFAULT_MAX_RECONNECT_DELAY_MS = 1000;
/** First reconnection delay, doubled per attempt up to the maximum. */
const BASE_RECONNECT_DELAY_MS = 50;

/**
 * The delay before reconnection attempt `retries` (0-based): exponential from 50 ms, capped,
 * with "equal jitter" (half fixed, half random) so the clients of a restarted Redis do not all
 * come back in the same millisecond.
 */
export function reconnectDelay(
  retries: number,
  maxDelayMs: number = DEFAULT_MAX_RECONNECT_DELAY_MS,
): number {
  const ceiling = Math.min(maxDelayMs, BASE_RECONNECT_DELAY_MS * 2 ** Math.min(retries, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * Options every Redis connection of ours is created with, to spread into `createClient` (add
 * `RESP` and the like there). Always reconnects: node-redis's default gives up on a socket
 * timeout, which would leave a long-lived process with a dead client.
 */
export function redisConnectionOptions(settings: RedisConnectionSettings) {
  if (!settings?.url) throw new Error('redisConnectionOptions: url is required');
  const maxDelayMs = settings.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  if (!(maxDelayMs >= BASE_RECONNECT_DELAY_MS)) {
    throw new Error(
      `redisConnectionOptions: maxReconnectDelayMs must be >= ${BASE_RECONNECT_DELAY_MS}`,
    );
  }
  return {
    url: settings.url,
    disableOfflineQueue: settings.failFast ?? true,
    socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries, maxDelayMs) },
  };
}

/**
 * Gives a client the 'error' listener node-redis needs (without one, a dropped connection is an
 * uncaught exception that ends the process) and logs its outages: the first error of an outage
 * at error level, the failed attempts after it at debug, the reconnect at info with how long
 * the connection was down. Duplicates (`client.duplicate()`) keep the options but not the
 * listeners: watch them too.
 */
export function watchRedisConnection(
  client: Pick<EventEmitter, 'on'>,
  name: string,
  logger: RedisConnectionLogger = stderrLogger,
): void {
  let downSince: number | null = null;
  client.on('error', (error: unknown) => {
    if (downSince === null) {
      downSince = Date.now();
      logger.error({ err: error, redis: name }, 'redis: connection error; reconnecting');
    } else {
      logger.debug?.({ err: error, redis: name }, 'redis: still unreachable');
    }
  });
  client.on('ready', () => {
    if (downSince === null) return;
    logger.info({ redis: name, downMs: Date.now() - downSince }, 'redis: reconnected');
    downSince = null;
  });
}

/**
 * A new (not yet connected) node-redis client with our reconnection policy and a logging error
 * listener. The one way our processes open Redis connections.
 */
export function createRedisClient(settings: RedisClientSettings): RedisClient {
  if (!settings?.name) throw new Error('createRedisClient: name is required');
  const client = createClient(redisConnectionOptions(settings));
  watchRedisConnection(client, settings.name, settings.logger);
  return client;
}

/**
 * Closes a client gracefully (its pending replies first), but destroys it when that takes
 * longer than `timeoutMs` (default 2000): during an outage commands waiting for the reconnect
 * would otherwise hold `close()` until Redis came back.
 */
export async function closeRedisClient(
  client: { readonly isOpen: boolean; close(): Promise<unknown>; destroy(): unknown },
  timeoutMs = 2000,
): Promise<void> {
  if (!client.isOpen) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), timeoutMs);
  });
  try {
    const gaveUp = await Promise.race([client.close().then(() => false), timedOut]);
    if (gaveUp) client.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/** A node-redis client speaking RESP version `RESP` (`RedisClient` is the RESP3 one). */
// biome-ignore lint/complexity/noBannedTypes: node-redis's own defaults (no modules, functions, scripts)
export type RespRedisClient<RESP extends 2 | 3> = RedisClientType<{}, {}, {}, RESP>;

/** How a component wants its dedicated connection. */
export interface DedicatedRedisSettings<RESP extends 2 | 3 = 3> {
  /** As `RedisConnectionSettings.failFast`. Default true. */
  failFast?: boolean;
  /** Protocol version. Default 3; the job queue uses 2 so raw script replies are plain arrays. */
  RESP?: RESP;
}

/**
 * Opens connections for components that need one of their own: a blocking read (XREADGROUP), a
 * pub/sub subscriber, the Socket.IO adapter's stream reader. Every connection it makes has the
 * process's URL, our reconnection policy and a logging error listener; `client.duplicate()` of
 * one keeps the options (watch the duplicate too). The component owns what it was given: it
 * connects it and closes it.
 */
export interface RedisConnectionFactory {
  dedicated<RESP extends 2 | 3 = 3>(
    name: string,
    settings?: DedicatedRedisSettings<RESP>,
  ): RespRedisClient<RESP>;
}

/**
 * A process's Redis: one connected, fail-fast client shared by everything that sends plain
 * commands (limiters, readiness, the message bus's publishes, room emits), and the factory of
 * dedicated connections. Opened once per process by the composition root and handed down.
 */
export interface RedisConnections extends RedisConnectionFactory {
  /** Connected; fails fast during an outage. Owned by the connections: do not close it. */
  readonly shared: RedisClient;
  /** Closes the shared client. Dedicated connections are their components'. Safe to call twice. */
  close(): Promise<void>;
}

/** Connection settings of a process, without the per-connection choices. */
export type RedisFactorySettings = Omit<RedisConnectionSettings, 'failFast'> & {
  /** Where connection errors go. Default: stderr. */
  logger?: RedisConnectionLogger;
};

/**
 * A factory of dedicated connections to `settings.url`. Holds no connection itself; tests and
 * tools that only need queues use it directly, processes get one from `openRedisConnections`.
 */
export function redisConnectionFactory(settings: RedisFactorySettings): RedisConnectionFactory {
  // Checked here rather than at the first connection.
  redisConnectionOptions(settings);
  return {
    dedicated<RESP extends 2 | 3 = 3>(name: string, options: DedicatedRedisSettings<RESP> = {}) {
      if (!name) throw new Error('RedisConnectionFactory.dedicated: name is required');
      const client = createClient({
        ...redisConnectionOptions({ ...settings, failFast: options.failFast ?? true }),
        RESP: (options.RESP ?? 3) as RESP,
      });
      watchRedisConnection(client, name, settings.logger);
      return client as unknown as RespRedisClient<RESP>;
    },
  };
}

/**
 * Connects the shared client of a process (named `name` in log lines, default `shared`) and
 * returns it with the factory of dedicated connections.
 */
export async function openRedisConnections(
  settings: RedisFactorySettings & { name?: string },
): Promise<RedisConnections> {
  const factory = redisConnectionFactory(settings);
  const shared: RedisClient = factory.dedicated(settings.name ?? 'shared');
  await shared.connect();
  let closing: Promise<void> | undefined;
  return {
    shared,
    dedicated: factory.dedicated,
    close() {
      closing ??= closeRedisClient(shared);
      return closing;
    },
  };
}
