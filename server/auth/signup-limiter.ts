import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  consumeOrRefuse,
  createRateLimiter,
  type RateLimit,
  type RateLimitStore,
  withDefaults,
} from '../rate-limits.ts';

export interface SignupLimits {
  /**
   * Signups per client IP, refused ones (a taken email) included. Default 20 per hour: each
   * costs a 19 MiB Argon2id hash and makes a workspace with free credits, and a team signing
   * up together behind one NAT still gets through.
   */
  perIp: RateLimit;
}

export const DEFAULT_SIGNUP_LIMITS: SignupLimits = {
  perIp: { points: 20, windowSeconds: 3600 },
};

export type SignupLimiterOptions = RateLimitStore & Partial<SignupLimits>;

/** Limits account creation per client IP, with rate-limiter-flexible (on Redis when there is one). */
export class SignupLimiter {
  readonly #perIp: RateLimiterAbstract;

  constructor(options: SignupLimiterOptions = {}) {
    const { redis, keyPrefix, ...overrides } = options;
    const limits = withDefaults(DEFAULT_SIGNUP_LIMITS, overrides);
    this.#perIp = createRateLimiter({ redis, keyPrefix }, 'signup:ip', limits.perIp);
  }

  /** Counts one signup from `ip`; a 429 with Retry-After once the IP is over its limit. */
  beforeSignup(ip: string): Promise<void> {
    return consumeOrRefuse(this.#perIp, ip, 'Too many signups from this address; try again later');
  }
}
