import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { DocumentConnection } from './document-connection.ts';
import type { StoredDocument } from './document-store.ts';
import type { RealtimeLogger } from './logger.ts';
import type { UpdateLogWriter } from './update-log-writer.ts';
import { UpdateValidator } from './update-validator.ts';
import {
  decodeAwarenessUpdate,
  encodeAwareness,
  encodeAwarenessEntries,
  encodeUpdate,
} from './yjs-protocol.ts';

/** Origin of changes that come from another node or from the store: never stored or published again. */
export const REMOTE_ORIGIN = Symbol('remote');
/** Origin of edits made by the server itself (e.g. the coach writing a decision). */
export const SERVER_ORIGIN = Symbol('server');

export type UpdateOrigin = DocumentConnection | typeof SERVER_ORIGIN;

export type SharedDocumentState = 'loading' | 'ready' | 'unloading';

interface PendingWrite {
  update: Uint8Array;
  origin: UpdateOrigin;
  /** Settles (never rejects) once the update was applied or refused. */
  settled: Promise<void>;
}

export interface SharedDocumentHooks {
  /** An update was committed: publish it to the other nodes. */
  afterStored(document: SharedDocument, update: Uint8Array): void;
  /** Awareness changed through a local client (not from another node): publish it. */
  afterLocalAwareness(document: SharedDocument, update: Uint8Array): void;
}

/**
 * One loaded document on this node: the Y.Doc, its awareness, the connections editing it and
 * the write pipeline that makes every accepted update durable before anyone else sees it.
 *
 * Invariant: the in-memory doc only ever contains state that is in the store. Local updates are
 * applied after their append resolved; remote ones were appended by the node that published
 * them. So answering a sync step 1 from memory never hands out an edit that could be lost.
 */
export class SharedDocument {
  readonly doc = new Y.Doc({ gc: true });
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  readonly connections = new Set<DocumentConnection>();
  /**
   * Which local connection owns each awareness client id: the first to announce it while no
   * one showed it. Only the owner may change or remove that id's state, and other nodes' updates
   * for it are ignored here, so nobody can pose as a client of this node.
   */
  readonly awarenessOwners = new Map<number, DocumentConnection>();
  state: SharedDocumentState = 'loading';
  /** Settles when loading finished (rejects when it failed). */
  loading: Promise<void> = Promise.resolve();
  /** Settles when an unload that started has finished. */
  unloaded: Promise<void> = Promise.resolve();
  /** Bus messages that arrived while loading; applied once the stored state is in. */
  readonly inbox: Uint8Array[] = [];
  /** Updates stored since the last compaction started (rows at load included). */
  uncompacted = 0;
  /** Users of the document that are not connections (admissions, server edits). */
  holds = 0;
  /**
   * Set when the document's project was deleted: its rows are gone, so nothing of it may be
   * written again (no append, no compaction) and it is unloaded as soon as nobody holds it.
   */
  discarded = false;
  unloadTimer: NodeJS.Timeout | null = null;
  unsubscribe: () => Promise<void> = async () => {};
  /**
   * Bytes of the Yjs updates applied to the doc since it was loaded (the stored state counts
   * once, as one update): an O(1) measure of its size for metrics, at least the size of the
   * state encoded as one update.
   */
  appliedBytes = 0;

  readonly #writer: UpdateLogWriter;
  readonly #hooks: SharedDocumentHooks;
  readonly #logger: RealtimeLogger;
  /** Accepted, not yet applied (on their way to the store), in the order submitted. */
  readonly #pending: PendingWrite[] = [];
  readonly #validator: UpdateValidator;
  readonly #guard = () => {
    if (this.discarded) throw new Error(`document ${this.name} was deleted`);
  };

  constructor(
    readonly name: string,
    /** The node's group committer: every document's updates share its transactions. */
    writer: UpdateLogWriter,
    hooks: SharedDocumentHooks,
    logger: RealtimeLogger,
    /** Largest encoded state the document may grow to through local updates, in bytes. */
    maxBytes = Number.POSITIVE_INFINITY,
  ) {
    this.#writer = writer;
    this.#hooks = hooks;
    this.#logger = logger;
    this.#validator = new UpdateValidator(
      {
        doc: this.doc,
        pending: () => this.#pending.map((entry) => entry.update),
      },
      maxBytes,
    );
    // The server is not a participant: it must not show up in anyone's presence.
    this.awareness.setLocalState(null);
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      this.appliedBytes += update.byteLength;
      const message = encodeUpdate(update);
      for (const connection of this.connections) {
        if (connection !== origin) connection.send(message);
      }
    });
    this.awareness.on(
      'update',
      (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) =>
        this.#onAwarenessUpdate(change, origin),
    );
  }

  #onAwarenessUpdate(
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void {
    const changed = [...added, ...updated, ...removed];
    if (changed.length === 0) return;
    const local = this.#localConnection(origin);
    if (local) {
      // Remember which awareness clients a connection speaks for, to remove them when it goes.
      for (const id of added) local.controlledClients.add(id);
      for (const id of updated) local.controlledClients.add(id);
      for (const id of removed) local.controlledClients.delete(id);
    }
    const message = encodeAwareness(this.awareness, changed);
    for (const connection of this.connections) {
      if (connection !== origin) connection.send(message);
    }
    if (origin !== REMOTE_ORIGIN) {
      this.#hooks.afterLocalAwareness(
        this,
        awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed),
      );
    }
  }

  #localConnection(origin: unknown): DocumentConnection | null {
    if (origin === null || typeof origin !== 'object') return null;
    const candidate = origin as DocumentConnection;
    return candidate.controlledClients instanceof Set ? candidate : null;
  }

  /** Applies what the store holds (on load, or to reconcile after lost bus messages). */
  applyStored(stored: StoredDocument): void {
    applyStoredDocument(this.doc, stored, this.#logger, this.name, REMOTE_ORIGIN);
    this.#validator.reset();
  }

  /** Applies an update another node stored and published. */
  applyRemoteUpdate(update: Uint8Array): void {
    try {
      Y.applyUpdate(this.doc, update, REMOTE_ORIGIN);
      this.#validator.follow(update);
    } catch (error) {
      this.#validator.reset();
      this.#logger.error({ err: error, docName: this.name }, 'yjs: remote update failed to apply');
    }
  }

  /** Applies an awareness update another node published, except for ids owned here. */
  applyRemoteAwareness(update: Uint8Array): void {
    const entries = decodeAwarenessUpdate(update);
    const foreign = entries.filter((entry) => !this.awarenessOwners.has(entry.clientId));
    if (foreign.length === 0) return;
    const filtered = foreign.length === entries.length ? update : encodeAwarenessEntries(foreign);
    awarenessProtocol.applyAwarenessUpdate(this.awareness, filtered, REMOTE_ORIGIN);
  }

  /** Awareness clients held by this node's connections, for answering another node's query. */
  localAwarenessClients(): number[] {
    const ids: number[] = [];
    for (const connection of this.connections) ids.push(...connection.controlledClients);
    return ids;
  }

  /**
   * Makes an update durable, then applies it, which broadcasts it to the other local
   * connections, and hands it to `afterStored` for the other nodes. Resolves once applied;
   * rejects (and nothing is applied or forwarded) when the store refused it or the document
   * was discarded before its batch was written.
   *
   * The update goes into the node's group commit ({@link UpdateLogWriter}): one transaction
   * holds what every document received meanwhile, so a busy node costs one round trip per
   * batch, not per keystroke. The writer settles a document's updates in the order submitted,
   * so they are applied in that order.
   *
   * Before anything is queued the update is checked on a scratch copy of the document
   * (see {@link UpdateValidator}): one that would fail to apply, or grow the document past its
   * size limit, throws `UpdateRefusedError` at once and is neither stored nor applied.
   */
  submit(update: Uint8Array, origin: UpdateOrigin): Promise<void> {
    this.#validator.check(update);
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const outcome = new Promise<void>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    const entry: PendingWrite = { update, origin, settled: Promise.resolve() };
    entry.settled = this.#writer.write(this.name, update, this.#guard).then(
      () => {
        this.#forget(entry);
        this.#stored(entry, resolve, reject);
      },
      (error: unknown) => {
        // Not logged here: whether this is an outage (an error) or an append that raced the
        // deletion of its project (expected) is for the submitter to find out and say.
        this.#forget(entry);
        // The scratch copy holds what was just refused.
        this.#validator.reset();
        reject(error);
      },
    );
    this.#pending.push(entry);
    return outcome;
  }

  /** Resolves once every submitted update has been stored (or refused). */
  async idle(): Promise<void> {
    while (this.#pending.length > 0) {
      await Promise.all(this.#pending.map((entry) => entry.settled));
    }
  }

  #forget(entry: PendingWrite): void {
    // Settled in order, so this is nearly always the first.
    const index = this.#pending.indexOf(entry);
    if (index >= 0) this.#pending.splice(index, 1);
  }

  #stored(entry: PendingWrite, resolve: () => void, reject: (error: unknown) => void): void {
    this.uncompacted += 1;
    this.#hooks.afterStored(this, entry.update);
    try {
      Y.applyUpdate(this.doc, entry.update, entry.origin);
      resolve();
    } catch (error) {
      this.#logger.error({ err: error, docName: this.name }, 'yjs: stored update failed to apply');
      reject(error);
      this.#validator.reset();
    }
  }

  destroy(): void {
    if (this.unloadTimer) clearTimeout(this.unloadTimer);
    this.unloadTimer = null;
    this.awareness.destroy();
    this.#validator.destroy();
    this.doc.destroy();
  }
}

/**
 * Applies a stored snapshot and its update rows to a doc. A row that fails to apply is logged
 * and skipped rather than making the whole document unloadable.
 */
export function applyStoredDocument(
  doc: Y.Doc,
  stored: StoredDocument,
  logger: RealtimeLogger,
  docName: string,
  origin: unknown,
): void {
  doc.transact(() => {
    if (stored.snapshot) {
      try {
        Y.applyUpdate(doc, stored.snapshot, origin);
      } catch (error) {
        logger.error({ err: error, docName }, 'yjs: stored snapshot failed to apply');
      }
    }
    for (const row of stored.updates) {
      try {
        Y.applyUpdate(doc, row.update, origin);
      } catch (error) {
        logger.error({ err: error, docName, rowId: row.id }, 'yjs: stored update failed to apply');
      }
    }
  }, origin);
}
