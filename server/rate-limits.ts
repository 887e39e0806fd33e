import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RedisClientType } from 'redis';
import { rateLimited } from './errors.ts';

/** Where the counters of the abuse limits live; every limiter of a node shares it. */
export interface RateLimitStore {
  /** Counters shared by every API node. Absent: per-process memory (embedded mode). */
  redis?: RedisClientType | undefined;
  /** Key prefix, so tests and deployments sharing one Redis do not collide. Default `reelroom`. */
  keyPrefix?: string | undefined;
}

/** A limit: `points` per `windowSeconds`. */
export interface RateLimit {
  points: number;
  windowSeconds: number;
}

/** `defaults` with the limits `overrides` sets (an `undefined` one keeps the default). */
export function withDefaults<T extends object>(defaults: T, overrides: Partial<T>): T {
  const set = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...defaults, ...Object.fromEntries(set) };
}

/**
 * A rate-limiter-flexible limiter named `<prefix>:<name>`, on Redis when the store has it.
 * Invalid limits are thrown here, at start-up.
 */
export function createRateLimiter(
  store: RateLimitStore,
  name: string,
  limit: RateLimit,
): RateLimiterAbstract {
  if (!Number.isInteger(limit.points) || limit.points < 1) {
    throw new Error(`rate limit ${name}: points must be a positive integer`);
  }
  if (!Number.isInteger(limit.windowSeconds) || limit.windowSeconds < 1) {
    throw new Error(`rate limit ${name}: windowSeconds must be a positive integer`);
  }
  // Memory counters expire through a timer each, and Node timers stop at 2^31 ms (24.8 days).
  if (limit.windowSeconds > 20 * 86_400) {
    throw new Error(`rate limit ${name}: windowSeconds must be at most 20 days`);
  }
  const keyPrefix = `${store.keyPrefix ?? 'reelroom'}:${name}`;
  const options = { keyPrefix, points: limit.points, duration: limit.windowSeconds };
  return store.redis
    ? new RateLimiterRedis({
        ...options,
        storeClient: store.redis,
        useRedisPackage: true,
        // Its reads go through MULTI, which node-redis queues even without an offline queue:
        // refuse at once while Redis is down, so the request answers 503 without waiting.
        rejectIfRedisNotReady: true,
      })
    : new RateLimiterMemory(options);
}

/**
 * Counts one point against `key` and throws a 429 (`rate_limited`, with Retry-After) when the
 * key is over its limit. Errors of the store (Redis down) pass through.
 */
export async function consumeOrRefuse(
  limiter: RateLimiterAbstract,
  key: string,
  message: string,
): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (error) {
    if (error instanceof RateLimiterRes) throw rateLimited(message, error.msBeforeNext / 1000);
    throw error;
  }
}

/** Throws a 429 when `key` has used up its points, without counting anything. */
export async function refuseIfExhausted(
  limiter: RateLimiterAbstract,
  key: string,
  message: string,
): Promise<void> {
  const state = await limiter.get(key);
  if (state && state.remainingPoints <= 0) throw rateLimited(message, state.msBeforeNext / 1000);
}
