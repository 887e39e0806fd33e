import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClientType } from 'redis';

/**
 * The one reply slot of each project. Within a node the reply queue already serialises; this
 * makes a reply on one node wait while another node streams for the same project.
 */
export interface ReplyLock {
  /** Resolves with a release function once this node holds the project's slot. */
  acquire(projectId: string, signal: AbortSignal): Promise<() => Promise<void>>;
}

/** One node (no Redis): the node's own reply queue is all the serialisation there is. */
export const localReplyLock: ReplyLock = {
  acquire: async () => async () => {},
};

// KEYS[1] lock key; ARGV[1] holder token, ARGV[2] ttl ms. Renews only the holder's own lock.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
// KEYS[1] lock key; ARGV[1] holder token. Deletes only the holder's own lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface RedisReplyLockOptions {
  redis: RedisClientType;
  /** Prefix of the lock keys (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /**
   * How long a lock outlives its holder, in ms. Default 30 000: a node that dies mid-reply
   * blocks its project's chat for at most this long. Renewed every third of it while held.
   */
  ttlMs?: number;
  /** How often a waiting node retries, in ms. Default 25. */
  pollMs?: number;
  logger: Logger;
}

/** A per-project mutex on Redis (`SET NX PX` with a holder token, renewed while streaming). */
export class RedisReplyLock implements ReplyLock {
  readonly #o: Required<RedisReplyLockOptions>;

  constructor(options: RedisReplyLockOptions) {
    if (!options.redis) throw new Error('RedisReplyLock: redis is required');
    this.#o = { ttlMs: 30_000, pollMs: 25, ...options };
    if (this.#o.ttlMs < 1000) throw new Error('RedisReplyLock: ttlMs must be >= 1000');
  }

  async acquire(projectId: string, signal: AbortSignal): Promise<() => Promise<void>> {
    const key = `${this.#o.keyPrefix}:coach:reply-lock:${projectId}`;
    const token = randomUUID();
    const { redis, ttlMs, pollMs } = this.#o;
    for (;;) {
      signal.throwIfAborted();
      const set = await redis.set(key, token, {
        condition: 'NX',
        expiration: { type: 'PX', value: ttlMs },
      });
      if (set === 'OK') break;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    const renew = setInterval(
      () => {
        redis.eval(RENEW, { keys: [key], arguments: [token, String(ttlMs)] }).catch((error) => {
          this.#o.logger.error({ err: error, projectId }, 'coach: renewing the reply lock failed');
        });
      },
      Math.floor(ttlMs / 3),
    );
    renew.unref();
    return async () => {
      clearInterval(renew);
      await redis.eval(RELEASE, { keys: [key], arguments: [token] });
    };
  }
}
