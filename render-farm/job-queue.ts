/**
 * The job queue the render workers pull from. Two backends implement it with the same
 * semantics: {@link RedisJobQueue} (Redis Streams, any number of processes) and
 * {@link MemoryJobQueue} (one process, embedded mode).
 *
 * Semantics, for both:
 * - at-least-once delivery; a job is held by one consumer at a time through a {@link JobLease};
 * - a lease not heart-beaten for `leaseMs` may be taken over by another consumer (the takeover
 *   counts as a failed attempt, so a job that kills its workers ends in the dead letters);
 * - every delivery increments the job's `attempt`, the fencing token for the job's stored state;
 * - a failed attempt is retried with exponential backoff until `maxAttempts` failures, then the
 *   job goes to the dead letters with its last error;
 * - cancel works from any process; an idempotency key returns the job first added with it.
 */
export interface JobQueue<T> {
  /** Adds a job, or returns the job first added with the same `idempotencyKey` or `jobId`. */
  add(data: T, options?: AddJobOptions): Promise<AddJobResult>;
  /**
   * Takes the next job for `consumer` (a stale job of a silent consumer first, then a new one),
   * waiting up to `blockMs`. Resolves to null when there is none, or when the queue closes.
   */
  take(consumer: string, options?: TakeOptions): Promise<JobLease<T> | null>;
  /** Requests a cancel, from any process. */
  cancel(jobId: string): Promise<CancelResult>;
  /** The queue's view of one job; null when unknown or expired. */
  getJob(jobId: string): Promise<QueueJobInfo<T> | null>;
  /** The dead letters, oldest first. */
  deadLetters(limit?: number): Promise<DeadLetter<T>[]>;
  /** How many jobs are in each live state and in the dead letters; cheap (metrics scrapes). */
  stats(): Promise<JobQueueStats>;
  /** Stops the queue; leases still held stay with the queue's backend (they are taken over). */
  close(): Promise<void>;
}

export interface AddJobOptions {
  /** The job's id (a render's id); a random uuid when absent. Adding an existing id is a no-op. */
  jobId?: string;
  /** A second add with the same key returns the first job instead of adding one. */
  idempotencyKey?: string;
}

export interface AddJobResult {
  jobId: string;
  /** False when an earlier job with the same id or idempotency key was returned. */
  created: boolean;
}

export interface TakeOptions {
  /** How long to wait for a job. Default 1000 ms. */
  blockMs?: number;
  /** Stops the wait early. */
  signal?: AbortSignal;
}

/**
 * What cancel found: `removed` (the job was waiting or backing off; nobody will run it, so the
 * caller records it as cancelled), `signalled` (a worker holds it and stops it), `unknown`
 * (finished already, or not a job of this queue).
 */
export type CancelResult = 'removed' | 'signalled' | 'unknown';

/** `ok`, `cancelled` (keep the lease, but a cancel was requested) or `lost` (taken over). */
export type HeartbeatResult = 'ok' | 'cancelled' | 'lost';

/** What became of a failed attempt. */
export type FailResult =
  | { outcome: 'retry'; delayMs: number }
  | { outcome: 'dead' }
  /** The lease had been taken over; nothing was changed. */
  | { outcome: 'lost' };

export type QueueJobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'cancelled' | 'dead';

/** A job held by one consumer until it settles it (complete, fail, release) or goes silent. */
export interface JobLease<T> {
  readonly jobId: string;
  readonly data: T;
  /** Delivery number, 1 on the first delivery, never reused: the fencing token for writes. */
  readonly attempt: number;
  /** Failed attempts before this delivery (including takeovers of silent consumers). */
  readonly failures: number;
  /** The error of the last failed attempt. */
  readonly lastError: string | undefined;
  /** The job has used up its attempts (its last holder went silent): settle it with a failure. */
  readonly exhausted: boolean;
  /** Aborted when a cancel is requested (reason: the string `'cancelled'`). */
  readonly signal: AbortSignal;
  /**
   * Whether `fail(error, {retry})` would schedule another attempt (attempts left, no cancel
   * requested), so a worker can store its verdict before it settles the lease: a crash in
   * between then leaves a stored state the queue agrees with or the reconciler repairs.
   */
  willRetry(retry?: boolean): boolean;
  /** Keeps the lease; also reports a cancel this process may have missed. */
  heartbeat(): Promise<HeartbeatResult>;
  /** Settles the job as done (completed, or cancelled when a cancel was requested). */
  complete(): Promise<boolean>;
  /** Settles a failed attempt: retry after a backoff, or dead letter when `retry` is false or
   * the attempts are used up. */
  fail(error: unknown, options?: { retry?: boolean }): Promise<FailResult>;
  /** Hands the job back untouched (graceful shutdown); another consumer takes it at once. */
  release(): Promise<boolean>;
}

export interface QueueJobInfo<T> {
  jobId: string;
  data: T;
  state: QueueJobState;
  /** Deliveries so far (the last lease's `attempt`). */
  deliveries: number;
  failures: number;
  lastError?: string;
  cancelRequested: boolean;
}

/** Job counts of a queue at one moment (for metrics; not a consistent snapshot across fields). */
export interface JobQueueStats {
  /** Ready to be taken. */
  waiting: number;
  /** Held by a consumer's lease (including prefetched and silent ones not taken over yet). */
  active: number;
  /** Failed attempts waiting out their backoff. */
  delayed: number;
  /** Dead letters kept. */
  dead: number;
}

export interface DeadLetter<T> {
  jobId: string;
  data: T;
  /** The error of the last attempt. */
  error: string;
  /** Failed attempts. */
  attempts: number;
  /** Epoch ms. */
  deadAt: number;
}

/** Options shared by both backends. */
export interface JobQueueOptions {
  /**
   * Failed attempts (errors and takeovers) before a job goes to the dead letters. Default 3.
   */
  maxAttempts?: number;
  /**
   * A lease not heart-beaten for this long may be taken over by another consumer. Default
   * 30 000 ms; workers heart-beat several times within it.
   */
  leaseMs?: number;
  /** First retry delay; doubles with each failure. Default 1000 ms. */
  backoffMs?: number;
  /** Longest retry delay. Default 60 000 ms. */
  maxBackoffMs?: number;
  /** How long finished jobs and idempotency keys are remembered. Default 24 h. */
  retentionMs?: number;
}

export const DEFAULT_JOB_QUEUE_OPTIONS: Required<JobQueueOptions> = {
  maxAttempts: 3,
  leaseMs: 30_000,
  backoffMs: 1_000,
  maxBackoffMs: 60_000,
  retentionMs: 24 * 60 * 60 * 1000,
};

/** Validates and completes queue options (throws on nonsense, at construction). */
export function resolveJobQueueOptions(options: JobQueueOptions): Required<JobQueueOptions> {
  const resolved = { ...DEFAULT_JOB_QUEUE_OPTIONS, ...stripUndefined(options) };
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be a positive integer (got ${resolved.maxAttempts})`);
  }
  for (const key of ['leaseMs', 'backoffMs', 'maxBackoffMs', 'retentionMs'] as const) {
    if (!Number.isFinite(resolved[key]) || resolved[key] < 0) {
      throw new RangeError(`${key} must be a non-negative number (got ${resolved[key]})`);
    }
  }
  return resolved;
}

/** Exponential backoff: `backoffMs * 2^(failures-1)`, capped at `maxBackoffMs`. */
export function backoffDelay(failures: number, options: Required<JobQueueOptions>): number {
  return Math.min(options.maxBackoffMs, options.backoffMs * 2 ** Math.max(0, failures - 1));
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
