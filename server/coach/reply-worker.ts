import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { JobLease, JobQueue } from '../../render-farm/index.ts';
import { errorMessage } from '../../render-farm/index.ts';
import type { CoachReplyJob } from './reply-job.ts';

/** One delivery of a reply's job, as the handler sees it. */
export interface ReplyAttempt {
  /** The queue's delivery number (1 first, never reused): fences the reply's writes. */
  attempt: number;
  /**
   * Aborted when this node closes or loses the lease (another node took the job over): stop
   * streaming and write nothing; the job goes on elsewhere.
   */
  signal: AbortSignal;
}

/** `settled`: the job is done (whatever became of the reply); `interrupted`: it stopped on `signal`. */
export type ReplyOutcome = 'settled' | 'interrupted';

/** What the worker runs for each job: the coach itself. */
export interface ReplyHandler {
  /** Produces the reply (streams, stores its final state, queues the project's next reply). */
  answer(job: CoachReplyJob, attempt: ReplyAttempt): Promise<ReplyOutcome>;
  /**
   * Settles, as failed, a reply that gets no further attempt, and queues the project's next
   * reply. Resolves to whether it settled it (false: it was settled already).
   */
  abandon(job: CoachReplyJob, reason: string): Promise<boolean>;
}

export interface CoachReplyWorkerOptions {
  queue: JobQueue<CoachReplyJob>;
  handler: ReplyHandler;
  logger: Logger;
  /**
   * Replies this node streams at once (each of a different project: a project has one job
   * at a time). Default 16: a reply is mostly waiting on the provider. 0: this node takes none.
   */
  concurrency?: number;
  /**
   * How often a held job is heart-beaten, in ms. Default 2000: several times within the reply
   * queue's 10 s lease, so only a dead or stuck node loses its job.
   */
  heartbeatMs?: number;
  /** How long one `take` waits for a job, in ms. Default 5000. */
  blockMs?: number;
  /** Consumer name. Default `coach-<host>-<pid>-<random>`: unique per process. */
  consumer?: string;
}

/**
 * The reply loop every API node runs: takes coach reply jobs off the queue, heart-beats the
 * lease while the reply streams, and settles the lease by what became of the reply. A job
 * whose node died is taken over by another node when its lease runs out, and streams again
 * from the start (the handler fences out the dead node's writes). On close, replies in flight
 * stop and their jobs go back to the queue at once.
 */
export class CoachReplyWorker {
  readonly consumer: string;
  readonly #o: Required<Omit<CoachReplyWorkerOptions, 'consumer'>>;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();
  #slotFreed: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | null = null;

  constructor(options: CoachReplyWorkerOptions) {
    if (!options.queue) throw new TypeError('CoachReplyWorker: queue is required');
    if (!options.handler) throw new TypeError('CoachReplyWorker: handler is required');
    this.#o = {
      concurrency: 16,
      heartbeatMs: 2000,
      blockMs: 5000,
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
    } as Required<Omit<CoachReplyWorkerOptions, 'consumer'>>;
    if (!Number.isInteger(this.#o.concurrency) || this.#o.concurrency < 0) {
      throw new RangeError(
        `concurrency must be a non-negative integer (got ${this.#o.concurrency})`,
      );
    }
    if (!(this.#o.heartbeatMs > 0)) throw new RangeError('heartbeatMs must be positive');
    this.consumer =
      options.consumer ?? `coach-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  /** Starts taking jobs. Safe to call twice. */
  start(): void {
    if (this.#loop || this.#closing || this.#o.concurrency === 0) return;
    this.#loop = this.#takeLoop();
  }

  /** Replies streaming here now. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * One loop takes jobs (one blocking read per node, however many replies stream) and runs
   * each without waiting for it, up to `concurrency` at once.
   */
  async #takeLoop(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      if (this.#running.size >= this.#o.concurrency) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        continue;
      }
      let lease: JobLease<CoachReplyJob> | null;
      try {
        lease = await this.#o.queue.take(this.consumer, { blockMs: this.#o.blockMs, signal });
        failures = 0;
      } catch (error) {
        // Redis down: keep trying, a little slower each time (at most 5 s apart).
        failures += 1;
        this.#o.logger.error({ err: error }, 'coach: taking a reply job failed');
        await pause(Math.min(5000, 100 * 2 ** failures), signal);
        continue;
      }
      if (!lease) continue;
      const run: Promise<void> = this.#run(lease).finally(() => {
        this.#running.delete(run);
        this.#slotFreed?.();
        this.#slotFreed = undefined;
      });
      this.#running.add(run);
    }
    await Promise.allSettled([...this.#running]);
  }

  async #run(lease: JobLease<CoachReplyJob>): Promise<void> {
    const { logger, handler } = this.#o;
    const log = logger.child({ replyId: lease.jobId, attempt: lease.attempt });
    const controller = new AbortController();
    let lost = false;
    const onStop = () => controller.abort('closing');
    if (this.#stop.signal.aborted) onStop();
    else this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const beat = setInterval(() => {
      lease.heartbeat().then(
        (result) => {
          if (result !== 'lost') return;
          lost = true;
          log.warn('coach: reply job taken over by another node; stopping here');
          controller.abort('lost');
        },
        (error: unknown) => log.warn({ err: error }, 'coach: heart-beating a reply job failed'),
      );
    }, this.#o.heartbeatMs);
    beat.unref();
    try {
      if (lease.exhausted) {
        // Its last holder went silent on the last attempt: end the reply, dead-letter the job.
        const reason = lease.lastError ?? 'the reply was interrupted too often';
        await handler.abandon(lease.data, reason);
        await lease.fail(new Error(reason), { retry: false });
        return;
      }
      const outcome = await handler.answer(lease.data, {
        attempt: lease.attempt,
        signal: controller.signal,
      });
      if (outcome === 'settled') await lease.complete();
      // Closing: hand the job back now, so another node starts it without waiting for the lease.
      else if (!lost) await lease.release();
    } catch (error) {
      if (controller.signal.aborted && !lost) {
        await lease.release().catch((e: unknown) => {
          log.error({ err: e }, 'coach: handing back a reply job failed');
        });
        return;
      }
      if (lost) return;
      log.error({ err: error }, 'coach: reply attempt failed');
      // The verdict is stored before the lease is settled: a crash in between leaves a
      // settled reply whose job the sweep finds dead, or a pending one it finds dead.
      if (!lease.willRetry()) {
        await handler.abandon(lease.data, errorMessage(error)).catch((e: unknown) => {
          log.error({ err: e }, 'coach: ending a failed reply failed; the reply sweep will');
        });
      }
      await lease.fail(error).catch((e: unknown) => {
        log.error({ err: e }, 'coach: settling a failed reply job failed');
      });
    } finally {
      clearInterval(beat);
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** Stops taking jobs; replies in flight stop and their jobs go back to the queue. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      this.#slotFreed?.();
      await this.#loop;
    })();
    return this.#closing;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
