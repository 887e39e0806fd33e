import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  consumeOrRefuse,
  createRateLimiter,
  type RateLimit,
  type RateLimitStore,
  refuseIfExhausted,
  withDefaults,
} from '../rate-limits.ts';

export interface MemberLimits {
  /**
   * Member additions (and invitations) per inviting owner, across their workspaces. Default
   * 20 per hour. Adding by email tells an owner whether the email has an account (the member
   * joins at once, or an invitation waits), so this bounds how fast anyone can ask.
   */
  perInviter: RateLimit;
  /** Member additions per workspace, by all its owners together. Default 50 per day. */
  perWorkspace: RateLimit;
}

export const DEFAULT_MEMBER_LIMITS: MemberLimits = {
  perInviter: { points: 20, windowSeconds: 3600 },
  perWorkspace: { points: 50, windowSeconds: 86_400 },
};

export type MemberLimiterOptions = RateLimitStore & Partial<MemberLimits>;

/** Limits `POST /workspaces/:id/members` per inviter and per workspace (rate-limiter-flexible). */
export class MemberLimiter {
  readonly #perInviter: RateLimiterAbstract;
  readonly #perWorkspace: RateLimiterAbstract;

  constructor(options: MemberLimiterOptions = {}) {
    const { redis, keyPrefix, ...overrides } = options;
    const store = { redis, keyPrefix };
    const limits = withDefaults(DEFAULT_MEMBER_LIMITS, overrides);
    this.#perInviter = createRateLimiter(store, 'members:inviter', limits.perInviter);
    this.#perWorkspace = createRateLimiter(store, 'members:workspace', limits.perWorkspace);
  }

  /**
   * Counts one addition by `inviterId` to `workspaceId`; a 429 with Retry-After when either is
   * over its limit. A full workspace costs the inviter nothing.
   */
  async beforeAdd(inviterId: string, workspaceId: string): Promise<void> {
    const workspaceFull = 'Too many members added to this workspace; try again later';
    await refuseIfExhausted(this.#perWorkspace, workspaceId, workspaceFull);
    await consumeOrRefuse(
      this.#perInviter,
      inviterId,
      'Too many members added by you; try again later',
    );
    await consumeOrRefuse(this.#perWorkspace, workspaceId, workspaceFull);
  }
}
