/** One update row of a document's log, as the store returned it. */
export interface StoredUpdate {
  /** The row's identity; only handed back to {@link DocumentStore.compact}. */
  id: number;
  update: Uint8Array;
}

/** A document as stored: its latest snapshot and every update not merged into it yet. */
export interface StoredDocument {
  /** A Yjs update holding the merged state; null before the first compaction. */
  snapshot: Uint8Array | null;
  /** Version of that snapshot (0 when none); compaction uses it to detect a concurrent one. */
  snapshotVersion: number;
  /** The update rows, oldest first. */
  updates: StoredUpdate[];
}

/** What a compaction writes: a merged snapshot that replaces one version and some update rows. */
export interface Compaction {
  /** The merged state of the snapshot and the rows below. */
  snapshot: Uint8Array;
  /** The snapshot version the merge started from; the write is refused if it changed. */
  baseVersion: number;
  /** The rows merged into the snapshot; exactly these are deleted. */
  updateIds: number[];
}

/** One update of one document, for {@link DocumentStore.appendMany}. */
export interface UpdateLogEntry {
  docName: string;
  update: Uint8Array;
}

/** Limits of a read for {@link DocumentStore.load}. */
export interface LoadOptions {
  /**
   * Read at most this many update rows, the oldest. Default: all of them. Compaction reads the
   * snapshot and a bounded prefix of the log, so one step costs the same however long the log.
   */
  maxUpdates?: number;
}

/**
 * Durable storage of Yjs documents as a snapshot plus an append-only log of updates
 * (y-redis's `AbstractStorage`, Hocuspocus's database extension). Implementations must keep
 * these promises, on which the realtime layer builds its "no acknowledged edit is lost":
 *
 * - `append` resolves only once the update is committed.
 * - `appendMany` is one transaction for entries of any documents: it resolves once all are
 *   committed, or rejects and stores none. Entries of one document keep their order in the log
 *   (their ids grow in the order given). Optional: without it the realtime layer appends one
 *   document at a time.
 * - `load` is one consistent read (one transaction) and never writes.
 * - `compact` is one transaction: it writes the snapshot only if the stored version still
 *   equals `baseVersion`, then deletes exactly the listed rows; it resolves false and changes
 *   nothing when another compaction got there first. Rows appended meanwhile are untouched,
 *   even when their ids are lower than some listed id (ids are not commit-ordered).
 */
export interface DocumentStore {
  load(docName: string, options?: LoadOptions): Promise<StoredDocument>;
  append(docName: string, update: Uint8Array): Promise<void>;
  appendMany?(entries: readonly UpdateLogEntry[]): Promise<void>;
  compact(docName: string, compaction: Compaction): Promise<boolean>;
}
