import { randomUUID } from 'node:crypto';
import { errorMessage } from './errors.ts';
import {
  type AddJobOptions,
  type AddJobResult,
  backoffDelay,
  type CancelResult,
  type DeadLetter,
  type FailResult,
  type HeartbeatResult,
  type JobLease,
  type JobQueue,
  type JobQueueOptions,
  type JobQueueStats,
  type QueueJobInfo,
  type QueueJobState,
  resolveJobQueueOptions,
  type TakeOptions,
} from './job-queue.ts';

interface MemoryJob {
  jobId: string;
  /** Serialized, as the Redis backend stores it, so both hand out copies. */
  data: string;
  state: QueueJobState;
  deliveries: number;
  failures: number;
  lastError?: string;
  cancel: boolean;
  consumer?: string;
  lastBeat: number;
  dueAt: number;
  finishedAt?: number;
  /** FIFO order among waiting jobs. */
  seq: number;
}

/**
 * {@link JobQueue} in one process (embedded mode), with the semantics of the Redis backend:
 * leases, heart-beats and takeover after `leaseMs`, attempt numbers, backoff, dead letters,
 * cancel and idempotency keys.
 */
export class MemoryJobQueue<T> implements JobQueue<T> {
  private readonly options: Required<JobQueueOptions>;
  private readonly jobs = new Map<string, MemoryJob>();
  private readonly idempotency = new Map<string, { jobId: string; at: number }>();
  private readonly dead: DeadLetter<T>[] = [];
  private readonly leases = new Map<string, Set<MemoryJobLease<T>>>();
  private readonly waiters = new Set<() => void>();
  private seq = 0;
  private closed = false;

  constructor(options: JobQueueOptions = {}) {
    this.options = resolveJobQueueOptions(options);
  }

  async add(data: T, options: AddJobOptions = {}): Promise<AddJobResult> {
    this.assertOpen();
    this.prune();
    const key = options.idempotencyKey;
    if (key !== undefined) {
      const existing = this.idempotency.get(key);
      if (existing) return { jobId: existing.jobId, created: false };
    }
    const jobId = options.jobId ?? randomUUID();
    if (this.jobs.has(jobId)) return { jobId, created: false };
    this.jobs.set(jobId, {
      jobId,
      data: JSON.stringify(data),
      state: 'waiting',
      deliveries: 0,
      failures: 0,
      cancel: false,
      lastBeat: 0,
      dueAt: 0,
      seq: this.seq++,
    });
    if (key !== undefined) this.idempotency.set(key, { jobId, at: Date.now() });
    this.wake();
    return { jobId, created: true };
  }

  async take(consumer: string, options: TakeOptions = {}): Promise<JobLease<T> | null> {
    const deadline = Date.now() + (options.blockMs ?? 1000);
    while (!this.closed && !options.signal?.aborted) {
      const now = Date.now();
      const found = this.next(now);
      if (found) return this.activate(found.job, consumer, found.takeover);
      const remaining = deadline - now;
      if (remaining <= 0) return null;
      await this.sleep(Math.min(remaining, this.nextChange(now)), options.signal);
    }
    return null;
  }

  /** A silent consumer's job first (oldest), then the oldest due job. */
  private next(now: number): { job: MemoryJob; takeover: boolean } | null {
    let stale: MemoryJob | undefined;
    let ready: MemoryJob | undefined;
    for (const job of this.jobs.values()) {
      if (job.state === 'active' && now - job.lastBeat >= this.options.leaseMs) {
        if (!stale || job.lastBeat < stale.lastBeat) stale = job;
      } else if (job.state === 'delayed' && job.dueAt <= now) {
        job.state = 'waiting';
        job.seq = this.seq++;
      }
      if (job.state === 'waiting' && (!ready || job.seq < ready.seq)) ready = job;
    }
    if (stale) return { job: stale, takeover: true };
    if (ready) return { job: ready, takeover: false };
    return null;
  }

  /** Milliseconds until a delayed job is due or an active one goes stale. */
  private nextChange(now: number): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const job of this.jobs.values()) {
      if (job.state === 'delayed') soonest = Math.min(soonest, job.dueAt - now);
      if (job.state === 'active') {
        soonest = Math.min(soonest, job.lastBeat + this.options.leaseMs - now);
      }
    }
    return Math.max(1, soonest);
  }

  private activate(job: MemoryJob, consumer: string, takeover: boolean): MemoryJobLease<T> {
    if (takeover) {
      job.failures += 1;
      job.lastError = `worker ${job.consumer ?? '?'} stopped heart-beating`;
    }
    job.deliveries += 1;
    job.state = 'active';
    job.consumer = consumer;
    job.lastBeat = Date.now();
    const lease = new MemoryJobLease<T>(this, job, this.options.maxAttempts);
    let held = this.leases.get(job.jobId);
    if (!held) {
      held = new Set();
      this.leases.set(job.jobId, held);
    }
    held.add(lease);
    return lease;
  }

  /** @internal Whether `lease` still holds its job. */
  holds(lease: MemoryJobLease<T>): MemoryJob | undefined {
    const job = this.jobs.get(lease.jobId);
    if (job?.state !== 'active' || job.deliveries !== lease.attempt) return undefined;
    return job;
  }

  /** @internal */
  forget(lease: MemoryJobLease<T>): void {
    const held = this.leases.get(lease.jobId);
    held?.delete(lease);
    if (held?.size === 0) this.leases.delete(lease.jobId);
  }

  /** @internal */
  settle(job: MemoryJob, state: QueueJobState): void {
    job.state = state;
    job.finishedAt = Date.now();
  }

  /** @internal */
  failJob(job: MemoryJob, error: unknown, retry: boolean): FailResult {
    job.failures += 1;
    job.lastError = errorMessage(error);
    if (retry && job.failures < this.options.maxAttempts && !job.cancel) {
      const delayMs = backoffDelay(job.failures, this.options);
      job.state = 'delayed';
      job.dueAt = Date.now() + delayMs;
      this.wake();
      return { outcome: 'retry', delayMs };
    }
    this.dead.push({
      jobId: job.jobId,
      data: JSON.parse(job.data) as T,
      error: job.lastError,
      attempts: job.failures,
      deadAt: Date.now(),
    });
    this.settle(job, 'dead');
    return { outcome: 'dead' };
  }

  /** @internal */
  requeue(job: MemoryJob): void {
    job.state = 'waiting';
    job.seq = this.seq++;
    this.wake();
  }

  async cancel(jobId: string): Promise<CancelResult> {
    const job = this.jobs.get(jobId);
    if (!job || !['waiting', 'delayed', 'active'].includes(job.state)) return 'unknown';
    job.cancel = true;
    if (job.state === 'active') {
      for (const lease of this.leases.get(jobId) ?? []) lease.markCancelRequested();
      return 'signalled';
    }
    this.settle(job, 'cancelled');
    return 'removed';
  }

  async getJob(jobId: string): Promise<QueueJobInfo<T> | null> {
    this.prune();
    const job = this.jobs.get(jobId);
    if (!job) return null;
    return {
      jobId,
      data: JSON.parse(job.data) as T,
      state: job.state,
      deliveries: job.deliveries,
      failures: job.failures,
      ...(job.lastError ? { lastError: job.lastError } : {}),
      cancelRequested: job.cancel,
    };
  }

  async deadLetters(limit = 100): Promise<DeadLetter<T>[]> {
    return this.dead.slice(0, limit).map((letter) => ({ ...letter }));
  }

  /** Counts by a walk over the jobs kept (finished ones for `retentionMs` included). */
  async stats(): Promise<JobQueueStats> {
    const stats: JobQueueStats = { waiting: 0, active: 0, delayed: 0, dead: this.dead.length };
    for (const job of this.jobs.values()) {
      if (job.state === 'waiting' || job.state === 'active' || job.state === 'delayed') {
        stats[job.state] += 1;
      }
    }
    return stats;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemoryJobQueue is closed');
  }

  /** Forgets finished jobs and idempotency keys older than `retentionMs`. */
  private prune(): void {
    const cutoff = Date.now() - this.options.retentionMs;
    for (const [id, job] of this.jobs) {
      if (job.finishedAt !== undefined && job.finishedAt < cutoff) this.jobs.delete(id);
    }
    for (const [key, entry] of this.idempotency) {
      if (entry.at < cutoff) this.idempotency.delete(key);
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

class MemoryJobLease<T> implements JobLease<T> {
  readonly jobId: string;
  readonly data: T;
  readonly attempt: number;
  readonly failures: number;
  readonly lastError: string | undefined;
  readonly exhausted: boolean;
  private readonly controller = new AbortController();
  private readonly maxAttempts: number;

  constructor(
    private readonly queue: MemoryJobQueue<T>,
    job: MemoryJob,
    maxAttempts: number,
  ) {
    this.maxAttempts = maxAttempts;
    this.jobId = job.jobId;
    this.data = JSON.parse(job.data) as T;
    this.attempt = job.deliveries;
    this.failures = job.failures;
    this.lastError = job.lastError;
    this.exhausted = job.failures >= maxAttempts;
    if (job.cancel) this.markCancelRequested();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  markCancelRequested(): void {
    if (!this.controller.signal.aborted) this.controller.abort('cancelled');
  }

  willRetry(retry = true): boolean {
    return retry && this.failures + 1 < this.maxAttempts && !this.signal.aborted;
  }

  async heartbeat(): Promise<HeartbeatResult> {
    const job = this.queue.holds(this);
    if (!job) {
      this.queue.forget(this);
      return 'lost';
    }
    job.lastBeat = Date.now();
    if (job.cancel) {
      this.markCancelRequested();
      return 'cancelled';
    }
    return 'ok';
  }

  async complete(): Promise<boolean> {
    this.queue.forget(this);
    const job = this.queue.holds(this);
    if (!job) return false;
    this.queue.settle(job, job.cancel ? 'cancelled' : 'completed');
    return true;
  }

  async fail(error: unknown, options: { retry?: boolean } = {}): Promise<FailResult> {
    this.queue.forget(this);
    const job = this.queue.holds(this);
    if (!job) return { outcome: 'lost' };
    return this.queue.failJob(job, error, options.retry ?? true);
  }

  async release(): Promise<boolean> {
    this.queue.forget(this);
    const job = this.queue.holds(this);
    if (!job) return false;
    this.queue.requeue(job);
    return true;
  }
}
