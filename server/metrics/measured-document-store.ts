import type {
  Compaction,
  DocumentStore,
  LoadOptions,
  StoredDocument,
  UpdateLogEntry,
} from '../../realtime/index.ts';
import type { Metrics } from './metrics.ts';

/**
 * A DocumentStore that times every append (a single one, or a node's group commit through
 * `appendMany`: one observation per transaction) into `metrics.documentAppendDuration` and
 * otherwise hands each call to `store` unchanged (same promises, same errors).
 */
export class MeasuredDocumentStore implements DocumentStore {
  readonly #store: DocumentStore;
  readonly #histogram: Metrics['documentAppendDuration'];

  constructor(store: DocumentStore, metrics: Pick<Metrics, 'documentAppendDuration'>) {
    this.#store = store;
    this.#histogram = metrics.documentAppendDuration;
    const appendMany = store.appendMany?.bind(store);
    if (appendMany) this.appendMany = (entries) => this.#timed(() => appendMany(entries));
  }

  load(docName: string, options?: LoadOptions): Promise<StoredDocument> {
    return this.#store.load(docName, options);
  }

  append(docName: string, update: Uint8Array): Promise<void> {
    return this.#timed(() => this.#store.append(docName, update));
  }

  /** Present when the measured store has it (an all-or-nothing promise cannot be faked). */
  readonly appendMany?: (entries: readonly UpdateLogEntry[]) => Promise<void>;

  compact(docName: string, compaction: Compaction): Promise<boolean> {
    return this.#store.compact(docName, compaction);
  }

  async #timed(write: () => Promise<void>): Promise<void> {
    const started = performance.now();
    let outcome = 'error';
    try {
      await write();
      outcome = 'ok';
    } finally {
      this.#histogram.observe({ outcome }, (performance.now() - started) / 1000);
    }
  }
}
