import { setImmediate as nextTurn } from 'node:timers/promises';
import * as Y from 'yjs';
import type { DocumentStore } from './document-store.ts';
import type { RealtimeLogger } from './logger.ts';
import { applyStoredDocument } from './shared-document.ts';

/** What one compaction step did. */
export interface CompactionStep {
  /** Rows folded into the snapshot (0 when there were none or another compaction won). */
  merged: number;
  /** The step read a full chunk: more rows may be waiting for the next one. */
  more: boolean;
}

/**
 * Folds the snapshot and the oldest `maxUpdates` rows of a document's log into a new snapshot,
 * from the store, never from memory (rows other nodes appended are merged or left alone, never
 * dropped), with the store's compare-and-set: a compaction another node committed first wins
 * and this step changes nothing.
 *
 * Works on the binary updates (`Y.mergeUpdates`), without a Y.Doc: measured on typing
 * histories it costs the same as applying them to a doc and encoding its state on a small
 * document and up to 1.6x less on a 150 KB one, and needs no doc in memory. Deleted text is
 * then kept as tombstones with content a Y.Doc would have dropped (under 1% larger on typing
 * with 10% deletions). A row that cannot be merged makes the step fall back to a Y.Doc, which
 * skips (and logs) it as loading does. The event loop gets a turn before and after the merge, so
 * appends and relayed edits waiting behind the reads run in between.
 */
export async function compactLogStep(
  store: DocumentStore,
  docName: string,
  maxUpdates: number,
  logger: RealtimeLogger,
): Promise<CompactionStep> {
  const stored = await store.load(docName, { maxUpdates });
  if (stored.updates.length === 0) return { merged: 0, more: false };
  await nextTurn();
  const parts = stored.updates.map((row) => row.update);
  if (stored.snapshot) parts.unshift(stored.snapshot);
  let snapshot: Uint8Array;
  try {
    snapshot = Y.mergeUpdates(parts);
  } catch (error) {
    logger.warn({ err: error, docName }, 'yjs: merging the log failed; compacting through a doc');
    const doc = new Y.Doc({ gc: true });
    try {
      applyStoredDocument(doc, stored, logger, docName, null);
      snapshot = Y.encodeStateAsUpdate(doc);
    } finally {
      doc.destroy();
    }
  }
  await nextTurn();
  const won = await store.compact(docName, {
    snapshot,
    baseVersion: stored.snapshotVersion,
    updateIds: stored.updates.map((row) => row.id),
  });
  return won
    ? { merged: stored.updates.length, more: stored.updates.length >= maxUpdates }
    : { merged: 0, more: false };
}
