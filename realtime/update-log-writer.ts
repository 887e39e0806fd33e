import * as Y from 'yjs';
import type { DocumentStore, UpdateLogEntry } from './document-store.ts';

export interface UpdateLogWriterOptions {
  /** Where the updates go. Required. Its `appendMany` is used when it has one. */
  store: DocumentStore;
  /**
   * How long, in ms, the first update of a batch may wait for others while no write is in
   * flight. Default 1: at 500 edits/s spread over 20 documents an update arrives every 2 ms, so a
   * millisecond gathers the edits that arrive together (several sockets read in one turn of the
   * event loop) into one transaction without adding a noticeable delay to a keystroke; 0 waits
   * only for the current turn of the event loop. While a write is in flight, updates wait for
   * it instead (the next batch starts the moment it ends), so under load an update waits at
   * most one write plus its own, never a timer.
   */
  maxWaitMs?: number;
  /** Most updates written in one transaction. Default 2000: bounds a batch after a stall. */
  maxBatchUpdates?: number;
}

/** Refuses a queued write just before its batch is written (throws the reason), e.g. a deleted document. */
export type WriteGuard = () => void;

interface QueuedWrite {
  docName: string;
  update: Uint8Array;
  guard: WriteGuard | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const DEFAULTS = { maxWaitMs: 1, maxBatchUpdates: 2000 };

/**
 * Group commit of one node's Yjs updates: what every document received since the last write
 * goes to the store in one transaction (`appendMany`, a multi-row insert), so a busy node pays
 * one round trip and one WAL flush per batch instead of per keystroke.
 *
 * Promises, on which SharedDocument's "stored before applied" rests:
 * - `write` resolves only after the transaction holding the update committed;
 * - batches are written one after the other, and inside a batch a document's updates are merged
 *   in order into one row, so each document's updates commit (and their promises settle) in the
 *   order they were written;
 * - a batch that fails is written again one document at a time, so a failure (a document whose
 *   project was just deleted) rejects exactly the updates of the document that caused it; when
 *   that one fails too they reject and nothing of them is stored.
 */
export class UpdateLogWriter {
  readonly #store: DocumentStore;
  readonly #options: typeof DEFAULTS;
  #queue: QueuedWrite[] = [];
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** Transactions committed (or tried), for tests and metrics. */
  batches = 0;

  constructor(options: UpdateLogWriterOptions) {
    if (!options?.store) throw new Error('UpdateLogWriter: store is required');
    const merged = { ...DEFAULTS };
    if (options.maxWaitMs !== undefined) merged.maxWaitMs = options.maxWaitMs;
    if (options.maxBatchUpdates !== undefined) merged.maxBatchUpdates = options.maxBatchUpdates;
    if (!Number.isFinite(merged.maxWaitMs) || merged.maxWaitMs < 0) {
      throw new Error('UpdateLogWriter: maxWaitMs must be a number >= 0');
    }
    if (!Number.isInteger(merged.maxBatchUpdates) || merged.maxBatchUpdates < 1) {
      throw new Error('UpdateLogWriter: maxBatchUpdates must be an integer >= 1');
    }
    this.#store = options.store;
    this.#options = merged;
  }

  /** Updates accepted and not yet settled (queued or in flight: the queue only). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Stores `update` of `docName` in the next batch. `guard` runs just before the batch is
   * written; if it throws, the update is refused with that error and not written.
   */
  write(docName: string, update: Uint8Array, guard?: WriteGuard): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ docName, update, guard, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once every update written so far has settled. Starts a waiting batch at once. */
  async idle(): Promise<void> {
    while (this.#queue.length > 0 || this.#writing) {
      if (!this.#writing) this.#start();
      await this.#writing;
    }
  }

  #schedule(): void {
    // A write in flight picks the queue up when it ends.
    if (this.#writing) return;
    if (this.#queue.length >= this.#options.maxBatchUpdates) {
      this.#start();
      return;
    }
    if (this.#timer) return;
    const start = () => {
      this.#timer = null;
      if (!this.#writing) this.#start();
    };
    this.#timer =
      this.#options.maxWaitMs === 0
        ? setImmediate(start)
        : setTimeout(start, this.#options.maxWaitMs);
  }

  #start(): void {
    if (this.#timer) {
      clearTimeout(this.#timer as NodeJS.Timeout);
      clearImmediate(this.#timer as NodeJS.Immediate);
      this.#timer = null;
    }
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
    });
  }

  /** Writes batches back to back until the queue is empty. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatchUpdates);
      await this.#writeBatch(batch);
    }
  }

  async #writeBatch(batch: QueuedWrite[]): Promise<void> {
    const byDocument = new Map<string, QueuedWrite[]>();
    for (const entry of batch) {
      try {
        entry.guard?.();
      } catch (error) {
        entry.reject(error);
        continue;
      }
      let writes = byDocument.get(entry.docName);
      if (!writes) {
        writes = [];
        byDocument.set(entry.docName, writes);
      }
      writes.push(entry);
    }
    if (byDocument.size === 0) return;
    const groups = [...byDocument.values()].map((writes) => ({ writes, row: rowOf(writes) }));
    this.batches += 1;
    const appendMany = this.#store.appendMany?.bind(this.#store);
    if (appendMany && groups.length > 1) {
      try {
        await appendMany(groups.map((group) => group.row));
        for (const group of groups) settle(group.writes, null);
        return;
      } catch {
        // Find whose it was: each document on its own below (a failed batch stored nothing).
      }
    }
    // One document, a failed batch, or a store without group commit: one transaction per
    // document, side by side (a document is one row, so its order holds).
    const outcomes = await Promise.allSettled(
      groups.map((group) =>
        appendMany
          ? appendMany([group.row])
          : this.#store.append(group.row.docName, group.row.update),
      ),
    );
    outcomes.forEach((outcome, index) => {
      settle(groups[index]!.writes, outcome.status === 'rejected' ? outcome.reason : null);
    });
  }
}

function rowOf(writes: QueuedWrite[]): UpdateLogEntry {
  const docName = writes[0]!.docName;
  const update =
    writes.length === 1 ? writes[0]!.update : Y.mergeUpdates(writes.map((write) => write.update));
  return { docName, update };
}

function settle(writes: QueuedWrite[], error: unknown): void {
  for (const write of writes) {
    if (error === null) write.resolve();
    else write.reject(error);
  }
}
