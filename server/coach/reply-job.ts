/**
 * One coach reply to produce: the data of a job on the coach's reply queue. The job's id is
 * the reply's message id, so adding it twice (an accept and a sweep racing) adds it once.
 */
export interface CoachReplyJob {
  replyId: string;
  projectId: string;
}

/** Key prefix of the reply queue under the deployment's REDIS_KEY_PREFIX (default `reelroom`). */
export function coachReplyQueuePrefix(keyPrefix = 'reelroom'): string {
  return `${keyPrefix}:coach-replies`;
}

/**
 * Queue options for coach replies: a crashed node's reply is taken over after 10 s of
 * silence (a chat cannot wait the 30 s a render may), a failing attempt is retried twice,
 * soon.
 */
export const COACH_REPLY_QUEUE_DEFAULTS = {
  leaseMs: 10_000,
  maxAttempts: 3,
  backoffMs: 500,
  maxBackoffMs: 5_000,
} as const;
