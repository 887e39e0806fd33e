import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RealtimeLogger } from './logger.ts';

export interface CompactionSchedulerOptions {
  /** Compacts one document; resolves with the rows it folded (0: nothing, or another won). Required. */
  compact: (docName: string) => Promise<number>;
  /**
   * A document is due after about this many stored updates. Default 500: bounds load time
   * without compacting on every keystroke.
   */
  everyUpdates?: number;
  /**
   * ...or about this long, in ms, after its first update not compacted yet. Default 60 000:
   * a document edited slowly for hours still loads from a short log.
   */
  everyMs?: number;
  /**
   * Spread of each threshold: a document's next one is drawn uniformly in
   * `[1 - jitter/2, 1 + jitter/2]` times the setting. Default 0.5 (±25 %): twenty documents
   * under the same load then come due over a quarter of their interval instead of in the same
   * second, and the scheduler runs them one at a time anyway.
   */
  jitter?: number;
  /** Default: warnings and errors to stderr. Required. */
  logger: RealtimeLogger;
  /** Source of randomness, in [0, 1). Default `Math.random`; tests pin it. */
  random?: () => number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
}

interface Tally {
  count: number;
  since: number;
  dueCount: number;
  dueMs: number;
}

interface Job {
  docName: string;
  done: Promise<number>;
  resolve: (merged: number) => void;
}

/**
 * Decides when each loaded document's log is compacted, and runs the compactions of a node one
 * at a time, off the relay path: a compaction never touches a document's in-memory state or its
 * writes (they keep being appended and forwarded while it runs), and between compactions the
 * event loop gets a turn. Thresholds are per document and jittered (see `jitter`), so documents
 * under an even load do not all come due together.
 */
export class CompactionScheduler {
  readonly #compact: (docName: string) => Promise<number>;
  readonly #logger: RealtimeLogger;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #everyUpdates: number;
  readonly #everyMs: number;
  readonly #jitter: number;
  readonly #tallies = new Map<string, Tally>();
  readonly #queue: Job[] = [];
  #running: Promise<void> | null = null;
  /** The document being compacted right now, if any. */
  current: string | null = null;

  constructor(options: CompactionSchedulerOptions) {
    if (!options?.compact) throw new Error('CompactionScheduler: compact is required');
    this.#compact = options.compact;
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#everyUpdates = options.everyUpdates ?? 500;
    this.#everyMs = options.everyMs ?? 60_000;
    this.#jitter = options.jitter ?? 0.5;
    if (!Number.isInteger(this.#everyUpdates) || this.#everyUpdates < 1) {
      throw new Error('CompactionScheduler: everyUpdates must be an integer >= 1');
    }
    if (!(this.#everyMs > 0)) throw new Error('CompactionScheduler: everyMs must be > 0');
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) {
      throw new Error('CompactionScheduler: jitter must be in [0, 1]');
    }
  }

  /** Compactions waiting (the running one not included). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Counts `rows` stored updates of a document (rows found at load included) and queues its
   * compaction when it comes due. Returns true when it did.
   */
  noteStored(docName: string, rows = 1): boolean {
    if (rows <= 0) return false;
    const now = this.#now();
    let tally = this.#tallies.get(docName);
    if (!tally) {
      tally = { count: 0, since: now, ...this.#draw() };
      this.#tallies.set(docName, tally);
    }
    tally.count += rows;
    if (tally.count < tally.dueCount && now - tally.since < tally.dueMs) return false;
    this.#tallies.delete(docName);
    void this.request(docName);
    return true;
  }

  /** Stops counting a document (unloaded or deleted). A queued compaction still runs. */
  forget(docName: string): void {
    this.#tallies.delete(docName);
  }

  /**
   * Queues a compaction of `docName` now (behind those queued); resolves with the rows it
   * folded. One already queued and not started is shared; one running gets a successor, since it
   * may have read the log before the rows the caller cares about.
   */
  request(docName: string): Promise<number> {
    const waiting = this.#queue.find((job) => job.docName === docName);
    if (waiting) return waiting.done;
    let resolve!: (merged: number) => void;
    const done = new Promise<number>((onResolve) => {
      resolve = onResolve;
    });
    this.#queue.push({ docName, done, resolve });
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return done;
  }

  /** Resolves once no compaction is queued or running. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #run(): Promise<void> {
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      // A turn of the event loop between compactions: edits waiting behind one go first.
      await nextTurn();
      this.current = job.docName;
      let merged = 0;
      try {
        merged = await this.#compact(job.docName);
      } catch (error) {
        this.#logger.error({ err: error, docName: job.docName }, 'yjs: compaction failed');
      } finally {
        this.current = null;
      }
      job.resolve(merged);
    }
  }

  #draw(): { dueCount: number; dueMs: number } {
    const factor = () => 1 - this.#jitter / 2 + this.#jitter * this.#random();
    return {
      dueCount: Math.max(1, Math.round(this.#everyUpdates * factor())),
      dueMs: this.#everyMs * factor(),
    };
  }
}
