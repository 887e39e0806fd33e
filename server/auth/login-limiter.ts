import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RedisClientType } from 'redis';
import { rateLimited } from '../errors.ts';

export interface LoginLimiterOptions {
  /** Shared counters across API nodes. Absent: per-process memory (embedded mode). */
  redis?: RedisClientType | undefined;
  /** Key prefix, so tests and deployments sharing one Redis do not collide. Default `reelroom`. */
  keyPrefix?: string;
  /** Attempts per IP per window, successful or not. Default 30 per 15 min: an office behind one NAT still logs in. */
  perIpPoints?: number;
  /** Failed attempts per email per window. Default 10 per 15 min: stops guessing one account from many IPs. */
  perEmailPoints?: number;
  /** Window length in seconds. Default 900. */
  windowSeconds?: number;
}

/**
 * Limits login attempts per client IP and failed attempts per email (OWASP Authentication
 * Cheat Sheet), with rate-limiter-flexible on Redis when there is one.
 */
export class LoginLimiter {
  readonly #perIp: RateLimiterAbstract;
  readonly #perEmail: RateLimiterAbstract;

  constructor(options: LoginLimiterOptions = {}) {
    const windowSeconds = options.windowSeconds ?? 900;
    const prefix = options.keyPrefix ?? 'reelroom';
    const make = (keyPrefix: string, points: number) =>
      options.redis
        ? new RateLimiterRedis({
            storeClient: options.redis,
            useRedisPackage: true,
            keyPrefix,
            points,
            duration: windowSeconds,
          })
        : new RateLimiterMemory({ keyPrefix, points, duration: windowSeconds });
    this.#perIp = make(`${prefix}:login:ip`, options.perIpPoints ?? 30);
    this.#perEmail = make(`${prefix}:login:email`, options.perEmailPoints ?? 10);
  }

  /** Counts one attempt from `ip`, and refuses if the IP or the email is already over its limit. */
  async beforeAttempt(ip: string, email: string): Promise<void> {
    const emailState = await this.#perEmail.get(email);
    if (emailState && emailState.remainingPoints <= 0) {
      throw rateLimited(
        'Too many failed logins for this account; try again later',
        emailState.msBeforeNext / 1000,
      );
    }
    try {
      await this.#perIp.consume(ip);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw rateLimited(
          'Too many login attempts from this address; try again later',
          error.msBeforeNext / 1000,
        );
      }
      throw error;
    }
  }

  /** Counts a failed attempt against the email. */
  async onFailure(email: string): Promise<void> {
    await this.#perEmail.penalty(email, 1);
  }

  /** A successful login clears the email's failures. */
  async onSuccess(email: string): Promise<void> {
    await this.#perEmail.delete(email);
  }
}
