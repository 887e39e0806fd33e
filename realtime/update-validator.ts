import * as Y from 'yjs';

/** Why an update was refused before anything of it was stored. */
export type UpdateRefusal = 'invalid' | 'too_large';

/** An update refused by {@link UpdateValidator}: nothing of it was stored, applied or forwarded. */
export class UpdateRefusedError extends Error {
  override readonly name = 'UpdateRefusedError';
  constructor(
    readonly reason: UpdateRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** What the validator's copy is built from: the live doc and the updates accepted but not applied yet. */
export interface ValidatorSource {
  doc: Y.Doc;
  /** Updates accepted earlier that are still on their way to the store, in order. */
  pending(): Uint8Array[];
}

/**
 * Checks a document's local updates on a scratch copy before they are stored, so that the
 * store-before-apply pipeline never stores an update that would then fail to apply (one that
 * decodes but references its document in ways Yjs refuses), and so that a document stays
 * within its size limit.
 *
 * The copy is kept in step with the live document instead of being cloned per update: an
 * update then costs one extra `Y.applyUpdate` on a document of the same size (tens of
 * microseconds on a 10 KB document, against over a millisecond for encoding and re-applying
 * the whole state per update), plus the copy's memory. It is built lazily, on the first local
 * update (documents only read never pay for it), from the live doc plus the updates accepted
 * but not yet applied there. It follows the remote updates the live doc applies. When it may
 * have diverged (a refused update half-applied to it, a failed append of updates it holds, a
 * reload from the store) it is dropped and rebuilt on the next check.
 *
 * The size is the encoded state's. Computing it is O(document), so it is only done when a
 * cheap upper bound (the state's size when the copy was built plus every update applied
 * since) passes the limit; the bound is then reset to the exact size.
 */
export class UpdateValidator {
  readonly #source: ValidatorSource;
  readonly #maxBytes: number;
  #copy: Y.Doc | null = null;
  #sizeBound = 0;

  constructor(source: ValidatorSource, maxBytes: number) {
    if (!(maxBytes > 0)) throw new RangeError('UpdateValidator: maxBytes must be positive');
    this.#source = source;
    this.#maxBytes = maxBytes;
  }

  /**
   * Applies `update` to the copy; throws {@link UpdateRefusedError} when it fails to apply or
   * would make the document larger than the limit. Once it returns, the copy holds the update,
   * as the live doc will once it is stored.
   */
  check(update: Uint8Array): void {
    const copy = this.#copy ?? this.#build();
    try {
      Y.applyUpdate(copy, update);
    } catch (error) {
      this.reset();
      throw new UpdateRefusedError(
        'invalid',
        `update does not apply: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    this.#sizeBound += update.byteLength;
    if (this.#sizeBound <= this.#maxBytes) return;
    const exact = Y.encodeStateAsUpdate(copy).byteLength;
    this.#sizeBound = exact;
    if (exact > this.#maxBytes) {
      this.reset();
      throw new UpdateRefusedError(
        'too_large',
        `document would be ${exact} bytes, over its limit of ${this.#maxBytes}`,
      );
    }
  }

  /** The live doc applied an update that did not come through {@link check} (another node's). */
  follow(update: Uint8Array): void {
    if (!this.#copy) return;
    try {
      Y.applyUpdate(this.#copy, update);
      this.#sizeBound += update.byteLength;
    } catch {
      this.reset();
    }
  }

  /** The copy may no longer match the live doc: rebuild it on the next check. */
  reset(): void {
    this.#copy?.destroy();
    this.#copy = null;
  }

  destroy(): void {
    this.reset();
  }

  #build(): Y.Doc {
    const state = Y.encodeStateAsUpdate(this.#source.doc);
    const copy = new Y.Doc({ gc: true });
    Y.applyUpdate(copy, state);
    this.#sizeBound = state.byteLength;
    for (const update of this.#source.pending()) {
      // Each was checked when it was accepted; one that fails now changes nothing here.
      try {
        Y.applyUpdate(copy, update);
        this.#sizeBound += update.byteLength;
      } catch {
        // Left out of the copy; the live doc logs it when it applies it.
      }
    }
    this.#copy = copy;
    return copy;
  }
}
