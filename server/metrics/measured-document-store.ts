import type { Compaction, DocumentStore, StoredDocument } from '../../realtime/index.ts';
import type { Metrics } from './metrics.ts';

/**
 * A DocumentStore that times every append into `metrics.documentAppendDuration` and otherwise
 * hands each call to `store` unchanged (same promises, same errors).
 */
export class MeasuredDocumentStore implements DocumentStore {
  readonly #store: DocumentStore;
  readonly #histogram: Metrics['documentAppendDuration'];

  constructor(store: DocumentStore, metrics: Pick<Metrics, 'documentAppendDuration'>) {
    this.#store = store;
    this.#histogram = metrics.documentAppendDuration;
  }

  load(docName: string): Promise<StoredDocument> {
    return this.#store.load(docName);
  }

  async append(docName: string, update: Uint8Array): Promise<void> {
    const started = performance.now();
    let outcome = 'error';
    try {
      await this.#store.append(docName, update);
      outcome = 'ok';
    } finally {
      this.#histogram.observe({ outcome }, (performance.now() - started) / 1000);
    }
  }

  compact(docName: string, compaction: Compaction): Promise<boolean> {
    return this.#store.compact(docName, compaction);
  }
}
