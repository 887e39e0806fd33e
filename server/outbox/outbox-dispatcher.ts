import type { Logger } from 'pino';
import { crashPoint } from '../crash-points.ts';
import type { Db } from '../db/index.ts';
import {
  claimOutboxEntries,
  deferOutboxEntry,
  type OutboxRow,
  type OutboxTopic,
  type OutboxTopics,
  oldestOutboxAgeSeconds,
  removeOutboxEntries,
} from './outbox.ts';

/** Carries out one entry. Must be idempotent: it runs again if the process dies after it. */
export type OutboxHandler<T extends OutboxTopic> = (
  payload: OutboxTopics[T],
  entry: OutboxRow,
) => Promise<void>;

export type OutboxHandlers = { [T in OutboxTopic]?: OutboxHandler<T> };

export interface OutboxDispatcherOptions {
  db: Db;
  logger: Logger;
  /** One handler per topic this node carries out; entries of other topics wait for a node that has one. */
  handlers: OutboxHandlers;
  /** Entries claimed at once. Default 50. */
  batchSize?: number;
  /**
   * How long a claimed entry stays with its dispatcher before any other may take it. Default
   * 30 000 ms: far longer than a handler takes (a Redis XADD, a pub/sub publish).
   */
  leaseMs?: number;
  /**
   * How often the outbox is looked at without a `kick()`: entries another node wrote and
   * could not carry out (it died right after its commit), and retries. Default 1000 ms.
   */
  sweepIntervalMs?: number;
  /** First retry delay of a failing entry; doubles per attempt. Default 500 ms. */
  backoffMs?: number;
  /** Longest retry delay. Default 30 000 ms: an outage of Redis heals within that of its end. */
  maxBackoffMs?: number;
  /**
   * A handler still running after this long counts as failed and its entry is retried later.
   * Default 10 000 ms: a Redis client waiting out an outage would otherwise hold the whole
   * pass (and every entry behind it) until Redis is back.
   */
  handlerTimeoutMs?: number;
  /** Told the age of the oldest waiting entry after each sweep (the outbox lag metric). */
  onLag?: ((seconds: number) => void) | undefined;
  now?: () => Date;
}

/**
 * Drains the transactional outbox (`outbox.ts`): claims due entries (SKIP LOCKED, with a
 * lease), runs each topic's handler, deletes what succeeded and backs off what failed. Every
 * node runs one; `kick()` after a commit carries an entry out within milliseconds, and the
 * periodic sweep carries out what a crashed node left. The reverse of the Stripe inbox:
 * store in the transaction, act after it, check again until done.
 */
type ResolvedOptions = Required<Omit<OutboxDispatcherOptions, 'onLag'>> & {
  onLag: OutboxDispatcherOptions['onLag'];
};

export class OutboxDispatcher {
  readonly #options: ResolvedOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #started = false;

  constructor(options: OutboxDispatcherOptions) {
    if (!options?.db) throw new TypeError('OutboxDispatcher: db is required');
    this.#options = {
      batchSize: 50,
      leaseMs: 30_000,
      sweepIntervalMs: 1_000,
      backoffMs: 500,
      maxBackoffMs: 30_000,
      handlerTimeoutMs: 10_000,
      now: () => new Date(),
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
      onLag: options.onLag,
    } as ResolvedOptions;
    const { batchSize, leaseMs, sweepIntervalMs } = this.#options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer (got ${batchSize})`);
    }
    if (!(leaseMs > 0) || !(sweepIntervalMs > 0)) {
      throw new RangeError('leaseMs and sweepIntervalMs must be positive');
    }
  }

  /** Starts the periodic sweep; the first pass runs at once (what a crash left). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#timer = setInterval(() => this.kick(), this.#options.sweepIntervalMs);
    this.#timer.unref();
    this.kick();
  }

  /** Asks for a pass now (after a commit that wrote entries). Never throws. */
  kick(): void {
    if (this.#closed || !this.#started) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Resolves when no pass is running or asked for (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Runs one full pass and resolves when it is done: what was due is carried out or deferred. */
  async flush(): Promise<void> {
    await this.idle();
    await this.#drain();
  }

  async #drain(): Promise<void> {
    const { db, logger } = this.#options;
    try {
      // Batches until nothing is due, so a burst of submits drains in one pass.
      for (;;) {
        if (this.#closed) return;
        const entries = await claimOutboxEntries(db, {
          limit: this.#options.batchSize,
          leaseMs: this.#options.leaseMs,
          now: this.#options.now(),
        });
        if (entries.length === 0) break;
        const done: string[] = [];
        for (const entry of entries) {
          if (await this.#carryOut(entry)) done.push(entry.id);
        }
        crashPoint('outbox.after-handlers');
        await removeOutboxEntries(db, done);
        if (entries.length < this.#options.batchSize) break;
      }
      this.#options.onLag?.(await oldestOutboxAgeSeconds(db, this.#options.now()));
    } catch (error) {
      if (!this.#closed) logger.error({ err: error }, 'outbox pass failed; the next one retries');
    }
  }

  async #carryOut(entry: OutboxRow): Promise<boolean> {
    const handler = this.#options.handlers[entry.topic as OutboxTopic] as
      | OutboxHandler<OutboxTopic>
      | undefined;
    if (!handler) {
      // Another kind of node carries this topic out; give the entry back soon.
      const retryAt = new Date(this.#options.now().getTime() + this.#options.sweepIntervalMs);
      await deferOutboxEntry(this.#options.db, entry.id, 'no handler on this node', retryAt);
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const { handlerTimeoutMs } = this.#options;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`handler still running after ${handlerTimeoutMs} ms`)),
          handlerTimeoutMs,
        );
      });
      await Promise.race([handler(entry.payload as OutboxTopics[OutboxTopic], entry), timeout]);
      return true;
    } catch (error) {
      const { backoffMs, maxBackoffMs } = this.#options;
      const delay = Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, entry.attempts - 1));
      const message = error instanceof Error ? error.message : String(error);
      this.#options.logger.warn(
        {
          err: error,
          topic: entry.topic,
          key: entry.key,
          attempts: entry.attempts,
          retryInMs: delay,
        },
        'outbox entry failed; will retry',
      );
      await deferOutboxEntry(
        this.#options.db,
        entry.id,
        message,
        new Date(this.#options.now().getTime() + delay),
      ).catch((deferError: unknown) =>
        // The lease brings it back anyway.
        this.#options.logger.error(
          { err: deferError, id: entry.id },
          'recording an outbox failure failed',
        ),
      );
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops sweeping and waits for the pass in flight; waiting entries stay in the database. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
