import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  consumeOrRefuse,
  createRateLimiter,
  type RateLimit,
  type RateLimitStore,
  refuseIfExhausted,
  withDefaults,
} from '../rate-limits.ts';

export interface LoginLimits {
  /** Attempts per IP, successful or not. Default 30 per 15 min: an office behind one NAT still logs in. */
  perIp: RateLimit;
  /**
   * Failed attempts per email from one IP. Default 10 per 15 min: stops guessing one account
   * from one address. A success from that IP clears it; other IPs are not affected, so whoever
   * hammers an account locks out only themselves.
   */
  perEmailAndIp: RateLimit;
  /**
   * Failed attempts per email from all IPs together. Default 50 per hour: bounds a guess at one
   * account spread over many addresses. It refuses only IPs the account has not logged in (or
   * signed up) from: the owner, from a known address, always gets through.
   */
  perEmail: RateLimit;
  /** How long an IP stays known for an account after a login or signup from it. Default 14 days. */
  knownIpSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perIp: { points: 30, windowSeconds: 900 },
  perEmailAndIp: { points: 10, windowSeconds: 900 },
  perEmail: { points: 50, windowSeconds: 3600 },
  knownIpSeconds: 14 * 86_400,
};

export type LoginLimiterOptions = RateLimitStore & Partial<LoginLimits>;

/**
 * Limits login attempts (OWASP Authentication Cheat Sheet; rate-limiter-flexible's "login
 * endpoint protection"): per client IP, failures per email and IP, and failures per email for
 * addresses the account was never used from. No limit is per email alone, so nobody can lock
 * an account's owner out by failing logins in their name. On Redis when there is one.
 */
export class LoginLimiter {
  readonly #perIp: RateLimiterAbstract;
  readonly #perEmailAndIp: RateLimiterAbstract;
  readonly #perEmail: RateLimiterAbstract;
  readonly #knownIps: RateLimiterAbstract;
  readonly #knownIpSeconds: number;

  constructor(options: LoginLimiterOptions = {}) {
    const { redis, keyPrefix, ...overrides } = options;
    const store = { redis, keyPrefix };
    const limits = withDefaults(DEFAULT_LOGIN_LIMITS, overrides);
    this.#perIp = createRateLimiter(store, 'login:ip', limits.perIp);
    this.#perEmailAndIp = createRateLimiter(store, 'login:email-ip', limits.perEmailAndIp);
    this.#perEmail = createRateLimiter(store, 'login:email', limits.perEmail);
    this.#knownIpSeconds = limits.knownIpSeconds;
    this.#knownIps = createRateLimiter(store, 'login:known-ip', {
      points: 1,
      windowSeconds: limits.knownIpSeconds,
    });
  }

  /**
   * Counts one attempt from `ip`, and refuses (429) when the IP, the email from this IP, or
   * (from an IP new to the account) the email itself is over its limit.
   */
  async beforeAttempt(ip: string, email: string): Promise<void> {
    const pair = pairKey(email, ip);
    await refuseIfExhausted(
      this.#perEmailAndIp,
      pair,
      'Too many failed logins for this account from this address; try again later',
    );
    if (!(await this.#knownIps.get(pair))) {
      await refuseIfExhausted(
        this.#perEmail,
        email,
        'Too many failed logins for this account; try again later, or from a device that logged in before',
      );
    }
    await consumeOrRefuse(
      this.#perIp,
      ip,
      'Too many login attempts from this address; try again later',
    );
  }

  /** Counts a failed attempt against the email from this IP and against the email. */
  async onFailure(ip: string, email: string): Promise<void> {
    await Promise.all([
      this.#perEmailAndIp.penalty(pairKey(email, ip), 1),
      this.#perEmail.penalty(email, 1),
    ]);
  }

  /**
   * A successful login (or the signup) from `ip`: its failures for the email are cleared and
   * the IP becomes known to the account. Failures from other IPs stay counted.
   */
  async onSuccess(ip: string, email: string): Promise<void> {
    const pair = pairKey(email, ip);
    await Promise.all([
      this.#perEmailAndIp.delete(pair),
      this.#knownIps.set(pair, 1, this.#knownIpSeconds),
    ]);
  }
}

/** Emails and (forwarded) addresses may hold any separator; JSON keeps the pair unambiguous. */
const pairKey = (email: string, ip: string) => JSON.stringify([email, ip]);
