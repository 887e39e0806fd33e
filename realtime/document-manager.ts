import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { CloseCodes } from '../shared/close-codes.ts';
import { parseYjsDocName, SCRIPT_TEXT } from '../shared/yjs-docs.ts';
import type { AccessCheck, MemberRole, MembershipChange, ProjectAccess } from './access-check.ts';
import { CompactionScheduler } from './compaction-scheduler.ts';
import type { DocumentBusMessageKind } from './document-bus-message.ts';
import {
  DocumentBusMessageKind as BusKind,
  decodeDocumentBusMessage,
  encodeDocumentBusMessage,
} from './document-bus-message.ts';
import type { DocumentPeer } from './document-connection.ts';
import { DocumentConnection } from './document-connection.ts';
import type { DocumentStore } from './document-store.ts';
import { compactLogStep } from './log-compaction.ts';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';
import type { MessageBus } from './message-bus.ts';
import { LocalMessageBus } from './message-bus.ts';
import { applyStoredDocument, SERVER_ORIGIN, SharedDocument } from './shared-document.ts';
import { UpdateLogWriter } from './update-log-writer.ts';

export interface DocumentManagerOptions {
  /** Where documents live. Required. */
  store: DocumentStore;
  /** Token and membership checks. Required. */
  access: AccessCheck;
  /**
   * How updates and awareness reach the other nodes. Default: an in-process bus (one node).
   * A bus passed in belongs to the caller and is not closed by {@link DocumentManager.close}.
   */
  bus?: MessageBus;
  /** Identifies this node on the bus, so it skips its own messages. Default: a random UUID. */
  nodeId?: string;
  /**
   * How long a document with no connections stays loaded, in ms. Default 30 000: a client that
   * reconnects after a network blip finds it warm instead of paying a reload.
   */
  unloadGraceMs?: number;
  /**
   * Compact a document after about this many stored updates (counted on this node, rows found
   * at load included; each document's threshold is jittered by ±25 % so documents under the
   * same load do not come due together). Default 500: bounds load time without compacting on
   * every keystroke.
   */
  compactEvery?: number;
  /**
   * ...or about this long (ms, jittered the same way) after the first update not compacted
   * yet, whichever comes first. Default 60 000.
   */
  compactEveryMs?: number;
  /**
   * Rows one compaction step folds into the snapshot. Default 250: a step's merge is bounded
   * (a few ms on a 150 KB document) and the event loop gets a turn between steps; a longer log
   * takes several steps.
   */
  compactionChunk?: number;
  /**
   * How long (ms) the first update of a group commit may wait for others while no write is in
   * flight (see `UpdateLogWriter`'s `maxWaitMs`). Default 1.
   */
  groupCommitMaxWaitMs?: number;
  /** Compact when a document is unloaded (and on close) if it stored updates. Default true. */
  compactOnUnload?: boolean;
  /**
   * Messages a client may send before its connection is admitted (token, membership and load
   * are async). Default 1000; beyond that the connection is closed as misbehaving.
   */
  maxPendingMessages?: number;
  /**
   * Largest a document may grow through client and server edits, in bytes of its encoded
   * state. Default 8 MiB (a book-length script is far smaller). An update that would pass it is
   * refused before it is stored: the connection closes with 4413.
   */
  maxDocumentBytes?: number;
  /**
   * Yjs connections one user may have open (or being admitted) on this node. Default 20: a
   * person with many tabs, not a script opening thousands. Beyond it a connection closes 4429.
   */
  maxConnectionsPerUser?: number;
  /** Default: warnings and errors to stderr. */
  logger?: RealtimeLogger;
}

export interface DocumentManagerEvents {
  /** A document was loaded from the store on this node. */
  loaded: [docName: string];
  /** A document was unloaded from this node. */
  unloaded: [docName: string];
  /** A document's project was deleted: its connections were closed and it is being dropped. */
  discarded: [docName: string];
  /** An update (possibly a merged batch) was committed to the store. */
  stored: [docName: string, update: Uint8Array];
  /** A read-only connection sent an update, which was dropped. */
  dropped: [docName: string, userId: string];
  /** A connection sent awareness for a client id it does not own; that entry was dropped. */
  'awareness-dropped': [docName: string, userId: string, clientId: number];
  /** A compaction finished; `merged` is the number of rows folded (0 when another won). */
  compacted: [docName: string, merged: number];
  /**
   * A bus message from another node arrived for a loaded document; `buffered` when it came
   * while the document was still loading (applied right after the stored state).
   */
  remote: [docName: string, kind: DocumentBusMessageKind, buffered: boolean];
  /** An open connection's role changed after a membership change (null: it was closed). */
  'role-changed': [docName: string, userId: string, role: MemberRole | null];
  /** A connection was admitted. */
  connected: [docName: string, userId: string];
  /** A connection closed, with the close code (1005 when the client closed without one). */
  disconnected: [docName: string, code: number];
}

/** A user-visible edit made by the server, e.g. the coach appending a decision to the plan. */
export type DocumentEdit = (doc: Y.Doc) => void;

const DEFAULTS = {
  unloadGraceMs: 30_000,
  compactEvery: 500,
  compactEveryMs: 60_000,
  compactionChunk: 250,
  groupCommitMaxWaitMs: 1,
  compactOnUnload: true,
  maxPendingMessages: 1000,
  maxDocumentBytes: 8 * 1024 * 1024,
  maxConnectionsPerUser: 20,
};

const MEMBERSHIP_RECHECK_LIMIT = 10;
/** Steps one compaction takes before letting other documents' compactions go first. */
const MAX_COMPACTION_STEPS = 8;
/**
 * How long a failed append may wait for the access check that explains it. Bounded so that
 * with the database down the client still hears 4503 soon and retries.
 */
const STORE_FAILURE_CHECK_MS = 2000;

/**
 * The transport-agnostic core of the Yjs sync server (Hocuspocus's `Hocuspocus` to our
 * WebSocket shell's `Server`): it admits connections, loads and unloads documents, makes every
 * accepted update durable before any other client or node sees it, fans updates and awareness
 * out over the bus and compacts the stored log.
 */
export class DocumentManager extends EventEmitter<DocumentManagerEvents> {
  readonly nodeId: string;
  readonly #store: DocumentStore;
  readonly #access: AccessCheck;
  readonly #bus: MessageBus;
  readonly #ownsBus: boolean;
  readonly #logger: RealtimeLogger;
  readonly #options: typeof DEFAULTS;
  readonly #documents = new Map<string, SharedDocument>();
  readonly #admitting = new Set<DocumentConnection>();
  /** Connections admitted or being admitted, per user, for `maxConnectionsPerUser`. */
  readonly #connectionsPerUser = new Map<string, number>();
  readonly #countedUser = new WeakMap<DocumentConnection, string>();
  /** Connections whose failed append is being explained (see #closeAfterStoreFailure). */
  readonly #checkingStoreFailure = new WeakSet<DocumentConnection>();
  /** The node's group commit: one transaction for what all documents received meanwhile. */
  readonly #writer: UpdateLogWriter;
  /** When each document compacts, one at a time per node. */
  readonly #compactions: CompactionScheduler;
  readonly #background = new Set<Promise<unknown>>();
  /** Bumped on every membership change; an admission that spans a bump re-checks access. */
  #membershipEpoch = 0;
  #closing: Promise<void> | null = null;
  readonly #onResync = () => this.#track(this.#resync());

  constructor(options: DocumentManagerOptions) {
    super();
    if (!options?.store) throw new Error('DocumentManager: store is required');
    if (!options.access) throw new Error('DocumentManager: access is required');
    const merged = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
      if (options[key] !== undefined) Object.assign(merged, { [key]: options[key] });
    }
    if (!Number.isFinite(merged.unloadGraceMs) || merged.unloadGraceMs < 0) {
      throw new Error('DocumentManager: unloadGraceMs must be a number >= 0');
    }
    if (!Number.isInteger(merged.compactEvery) || merged.compactEvery < 1) {
      throw new Error('DocumentManager: compactEvery must be an integer >= 1');
    }
    if (!Number.isInteger(merged.compactionChunk) || merged.compactionChunk < 1) {
      throw new Error('DocumentManager: compactionChunk must be an integer >= 1');
    }
    if (!Number.isInteger(merged.maxPendingMessages) || merged.maxPendingMessages < 1) {
      throw new Error('DocumentManager: maxPendingMessages must be an integer >= 1');
    }
    if (!Number.isInteger(merged.maxDocumentBytes) || merged.maxDocumentBytes < 1024) {
      throw new Error('DocumentManager: maxDocumentBytes must be an integer >= 1024');
    }
    if (!Number.isInteger(merged.maxConnectionsPerUser) || merged.maxConnectionsPerUser < 1) {
      throw new Error('DocumentManager: maxConnectionsPerUser must be an integer >= 1');
    }
    this.#options = merged;
    this.#store = options.store;
    this.#access = options.access;
    this.#ownsBus = !options.bus;
    this.#bus = options.bus ?? new LocalMessageBus();
    this.#logger = options.logger ?? stderrLogger;
    this.nodeId = options.nodeId ?? randomUUID();
    this.#writer = new UpdateLogWriter({
      store: this.#store,
      maxWaitMs: merged.groupCommitMaxWaitMs,
    });
    this.#compactions = new CompactionScheduler({
      compact: (docName) => this.#compactLog(docName),
      everyUpdates: merged.compactEvery,
      everyMs: merged.compactEveryMs,
      logger: this.#logger,
    });
    this.#bus.on('resync', this.#onResync);
  }

  /** Names of the documents loaded on this node. */
  get loadedDocuments(): string[] {
    return [...this.#documents.keys()];
  }

  /** Number of documents loaded on this node (being loaded or unloaded included). */
  get loadedDocumentCount(): number {
    return this.#documents.size;
  }

  /**
   * Approximate bytes of the documents loaded on this node: the Yjs updates applied to each
   * since its load (see `SharedDocument.appliedBytes`). O(documents), for metrics.
   */
  get loadedDocumentBytes(): number {
    let bytes = 0;
    for (const document of this.#documents.values()) bytes += document.appliedBytes;
    return bytes;
  }

  /** Number of open connections on this node. */
  get connectionCount(): number {
    let count = 0;
    for (const document of this.#documents.values()) count += document.connections.size;
    return count;
  }

  /**
   * Starts a connection for `docName` with an access token. Returns at once; the connection
   * buffers what it receives until it is admitted, or is closed with 4404 (unknown document),
   * 4401 (no or bad token), 4403 (not a member) or 4503 (document unavailable).
   */
  openConnection(
    peer: DocumentPeer,
    request: { docName: string; token: string | null | undefined },
  ): DocumentConnection {
    // The canonical name (the project id in lower case): one document however it is spelled.
    const docName = parseYjsDocName(request.docName)?.name ?? request.docName;
    const connection = new DocumentConnection(
      docName,
      peer,
      {
        onDroppedUpdate: (dropped) =>
          this.emit('dropped', dropped.docName, dropped.identity?.userId ?? ''),
        onForeignAwareness: (sender, clientId) =>
          this.emit('awareness-dropped', sender.docName, sender.identity?.userId ?? '', clientId),
        onStoreFailed: (failed, error) => this.#track(this.#closeAfterStoreFailure(failed, error)),
        onClosed: (closed, code) => this.#onConnectionClosed(closed, code),
      },
      this.#options.maxPendingMessages,
    );
    if (this.#closing) {
      connection.close(CloseCodes.GoingAway, 'server shutting down');
      return connection;
    }
    this.#admitting.add(connection);
    this.#track(
      this.#admit(connection, request.token ?? null).finally(() =>
        this.#admitting.delete(connection),
      ),
    );
    return connection;
  }

  async #admit(connection: DocumentConnection, token: string | null): Promise<void> {
    const parsed = parseYjsDocName(connection.docName);
    if (!parsed) {
      connection.close(CloseCodes.UnknownDocument, 'unknown document');
      return;
    }
    if (!token) {
      connection.close(CloseCodes.Unauthorized, 'missing token');
      return;
    }
    let document: SharedDocument | null = null;
    try {
      const user = await this.#access.authenticate(token);
      if (!user) {
        connection.close(CloseCodes.Unauthorized, 'invalid token');
        return;
      }
      if (connection.state !== 'admitting') return;
      if (!this.#countConnection(connection, user.userId)) {
        connection.close(CloseCodes.TooManyConnections, 'too many connections');
        return;
      }
      let epoch = this.#membershipEpoch;
      let access: ProjectAccess | null = await this.#access.projectAccess(
        user.userId,
        parsed.projectId,
      );
      if (!access) {
        connection.close(CloseCodes.Forbidden, 'not a member of this project');
        return;
      }
      if (connection.state !== 'admitting') return;
      document = await this.#acquire(parsed.name);
      // A membership change that arrived while we were checking or loading may not be
      // reflected in `access`: check again until no change slipped in between.
      for (let round = 0; epoch !== this.#membershipEpoch; round += 1) {
        if (round >= MEMBERSHIP_RECHECK_LIMIT) throw new Error('membership keeps changing');
        epoch = this.#membershipEpoch;
        access = await this.#access.projectAccess(user.userId, parsed.projectId);
        if (!access) {
          connection.close(CloseCodes.Forbidden, 'not a member of this project');
          return;
        }
      }
      if (connection.state !== 'admitting') return;
      if (this.#closing) {
        connection.close(CloseCodes.GoingAway, 'server shutting down');
        return;
      }
      connection.open(document, {
        userId: user.userId,
        name: user.name,
        projectId: parsed.projectId,
        workspaceId: access.workspaceId,
        role: access.role,
      });
      this.emit('connected', parsed.name, user.userId);
    } catch (error) {
      if (this.#closing) {
        connection.close(CloseCodes.GoingAway, 'server shutting down');
        return;
      }
      this.#logger.error(
        { err: error, docName: connection.docName },
        'yjs: admitting a connection failed',
      );
      connection.close(CloseCodes.Unavailable, 'document unavailable');
    } finally {
      if (document) this.#release(document);
    }
  }

  /**
   * An append fails when the store is unavailable, or when the project was deleted and this
   * node has not heard yet (its rows' foreign key is gone). A client of a deleted project must
   * stop (4404) rather than reconnect into a refusal, so ask which it is; anything else is
   * 4503, after which the client reconnects and offers the update again in its sync step 2.
   */
  async #closeAfterStoreFailure(connection: DocumentConnection, error: unknown): Promise<void> {
    const identity = connection.identity;
    if (connection.state !== 'open' || !identity || this.#checkingStoreFailure.has(connection)) {
      return;
    }
    this.#checkingStoreFailure.add(connection);
    let access: ProjectAccess | null | undefined;
    try {
      access = await withTimeout(
        this.#access.projectAccess(identity.userId, identity.projectId),
        STORE_FAILURE_CHECK_MS,
      );
    } catch {
      // Unknown: treat it as the outage it most likely is.
      access = undefined;
    } finally {
      this.#checkingStoreFailure.delete(connection);
    }
    // Closed meanwhile (most likely by the deletion notice): its close already said why.
    if (connection.state !== 'open') return;
    const context = { err: error, docName: connection.docName, userId: identity.userId };
    // Membership changes never make appends fail, so no access here means no project.
    if (access === null) {
      this.#logger.warn(context, 'yjs: an update could not be stored: its project was deleted');
      connection.close(CloseCodes.UnknownDocument, 'project deleted');
    } else {
      this.#logger.error(
        context,
        'yjs: storing an update failed; it is neither applied nor forwarded',
      );
      connection.close(CloseCodes.Unavailable, 'update could not be stored');
    }
  }

  /**
   * Counts a connection against its user's cap (see `maxConnectionsPerUser`) until it closes;
   * false, and not counted, when the user is at the cap.
   */
  #countConnection(connection: DocumentConnection, userId: string): boolean {
    const count = this.#connectionsPerUser.get(userId) ?? 0;
    if (count >= this.#options.maxConnectionsPerUser) return false;
    this.#connectionsPerUser.set(userId, count + 1);
    this.#countedUser.set(connection, userId);
    return true;
  }

  #onConnectionClosed(connection: DocumentConnection, code: number): void {
    const userId = this.#countedUser.get(connection);
    if (userId !== undefined) {
      this.#countedUser.delete(connection);
      const count = (this.#connectionsPerUser.get(userId) ?? 1) - 1;
      if (count > 0) this.#connectionsPerUser.set(userId, count);
      else this.#connectionsPerUser.delete(userId);
    }
    this.emit('disconnected', connection.docName, code);
    const document = connection.document;
    if (document) this.#maybeScheduleUnload(document);
  }

  /** Loads (or finds) a document and holds it loaded until {@link #release}. */
  async #acquire(name: string): Promise<SharedDocument> {
    for (;;) {
      if (this.#closing) throw new Error('document manager is closed');
      let document = this.#documents.get(name);
      if (document?.discarded) throw new Error(`document ${name} was deleted`);
      if (document?.state === 'unloading') {
        await document.unloaded;
        continue;
      }
      if (!document) {
        document = new SharedDocument(
          name,
          this.#writer,
          {
            afterStored: (stored, update) => this.#afterStored(stored, update),
            afterLocalAwareness: (changed, update) =>
              this.#publish(changed.name, BusKind.Awareness, update),
          },
          this.#logger,
          this.#options.maxDocumentBytes,
        );
        this.#documents.set(name, document);
        document.loading = this.#load(document);
      }
      document.holds += 1;
      if (document.unloadTimer) {
        clearTimeout(document.unloadTimer);
        document.unloadTimer = null;
      }
      try {
        await document.loading;
      } catch (error) {
        document.holds -= 1;
        throw error;
      }
      return document;
    }
  }

  #release(document: SharedDocument): void {
    document.holds -= 1;
    this.#maybeScheduleUnload(document);
  }

  /**
   * Subscribes first, loads second: an update another node publishes while we read the store
   * is buffered and applied after the stored state (Yjs updates are idempotent and commute, so
   * an update that is both in the store and in the buffer does no harm). Never writes.
   */
  async #load(document: SharedDocument): Promise<void> {
    try {
      document.unsubscribe = await this.#bus.subscribe(docChannel(document.name), (message) => {
        if (document.state === 'loading') document.inbox.push(message);
        else this.#onBusMessage(document, message, false);
      });
      const stored = await this.#store.load(document.name);
      document.applyStored(stored);
      document.uncompacted = stored.updates.length;
    } catch (error) {
      this.#documents.delete(document.name);
      await document.unsubscribe().catch(() => undefined);
      document.destroy();
      throw error;
    }
    document.state = 'ready';
    for (const message of document.inbox.splice(0)) this.#onBusMessage(document, message, true);
    this.emit('loaded', document.name);
    // Ask the other nodes for their clients' presence, instead of waiting up to 15 s for the
    // clients' periodic awareness renewal.
    this.#publish(document.name, BusKind.QueryAwareness, new Uint8Array(0));
    this.#maybeCompact(document, document.uncompacted);
  }

  #onBusMessage(document: SharedDocument, bytes: Uint8Array, buffered: boolean): void {
    let message: ReturnType<typeof decodeDocumentBusMessage>;
    try {
      message = decodeDocumentBusMessage(bytes);
    } catch (error) {
      this.#logger.warn({ err: error, docName: document.name }, 'yjs: undecodable bus message');
      return;
    }
    if (message.nodeId === this.nodeId) return;
    this.emit('remote', document.name, message.kind, buffered);
    switch (message.kind) {
      case BusKind.Update:
        document.applyRemoteUpdate(message.payload);
        break;
      case BusKind.Awareness:
        try {
          document.applyRemoteAwareness(message.payload);
        } catch (error) {
          this.#logger.warn({ err: error, docName: document.name }, 'yjs: bad remote awareness');
        }
        break;
      case BusKind.QueryAwareness: {
        const clients = document.localAwarenessClients();
        if (clients.length > 0) {
          this.#publish(
            document.name,
            BusKind.Awareness,
            awarenessProtocol.encodeAwarenessUpdate(document.awareness, clients),
          );
        }
        break;
      }
    }
  }

  #afterStored(document: SharedDocument, update: Uint8Array): void {
    this.emit('stored', document.name, update);
    this.#publish(document.name, BusKind.Update, update);
    this.#maybeCompact(document, 1);
  }

  #publish(docName: string, kind: DocumentBusMessageKind, payload: Uint8Array): void {
    const message = encodeDocumentBusMessage({ nodeId: this.nodeId, kind, payload });
    this.#bus.publish(docChannel(docName), message).catch((error: unknown) => {
      this.#logger.error({ err: error, docName, kind }, 'yjs: publishing to the bus failed');
    });
  }

  /** Counts `rows` stored updates of a loaded document; queues its compaction when due. */
  #maybeCompact(document: SharedDocument, rows: number): void {
    if (document.discarded || document.state !== 'ready') return;
    if (this.#compactions.noteStored(document.name, rows)) document.uncompacted = 0;
  }

  #maybeScheduleUnload(document: SharedDocument): void {
    if (document.state !== 'ready' || document.holds > 0 || document.connections.size > 0) return;
    if (this.#closing) return;
    if (document.discarded) {
      // Nobody may open it again, so a grace period would only keep a dead document in memory.
      if (document.unloadTimer) clearTimeout(document.unloadTimer);
      document.unloadTimer = null;
      this.#track(this.#unload(document));
      return;
    }
    if (document.unloadTimer) return;
    document.unloadTimer = setTimeout(() => {
      document.unloadTimer = null;
      this.#track(this.#unload(document));
    }, this.#options.unloadGraceMs);
    document.unloadTimer.unref();
  }

  async #unload(document: SharedDocument): Promise<void> {
    if (document.state !== 'ready' || document.holds > 0 || document.connections.size > 0) return;
    document.state = 'unloading';
    document.unloaded = (async () => {
      await document.idle();
      this.#documents.delete(document.name);
      this.#compactions.forget(document.name);
      try {
        await document.unsubscribe();
      } catch (error) {
        this.#logger.warn({ err: error, docName: document.name }, 'yjs: unsubscribing failed');
      }
      document.destroy();
      this.emit('unloaded', document.name);
      if (this.#options.compactOnUnload && document.uncompacted > 0 && !document.discarded) {
        this.#track(this.compact(document.name));
      }
    })();
    await document.unloaded;
  }

  /**
   * After the bus may have lost messages (its Redis connection dropped and came back): re-reads
   * every loaded document from the store, for the updates other nodes published meanwhile, and
   * re-checks the access of every open connection, since the membership changes and project
   * deletions published meanwhile were lost as well.
   */
  async #resync(): Promise<void> {
    // Admissions under way check again, against the store as it is now.
    this.#membershipEpoch += 1;
    const checks = new Map<string, Promise<ProjectAccess | null>>();
    const accessOf = (userId: string, projectId: string) => {
      const key = `${userId}\n${projectId}`;
      let check = checks.get(key);
      if (!check) {
        check = this.#access.projectAccess(userId, projectId);
        checks.set(key, check);
      }
      return check;
    };
    for (const document of [...this.#documents.values()]) {
      if (document.state !== 'ready') continue;
      try {
        document.applyStored(await this.#store.load(document.name));
      } catch (error) {
        this.#logger.error({ err: error, docName: document.name }, 'yjs: resync failed');
      }
      for (const connection of [...document.connections]) {
        const identity = connection.identity;
        if (!identity) continue;
        try {
          const access = await accessOf(identity.userId, identity.projectId);
          if (connection.state !== 'open') continue;
          if (!access) {
            connection.close(CloseCodes.Forbidden, 'membership revoked');
            this.emit('role-changed', document.name, identity.userId, null);
          } else if (access.role !== identity.role) {
            connection.setRole(access.role);
            this.emit('role-changed', document.name, identity.userId, access.role);
          }
        } catch (error) {
          this.#logger.error(
            { err: error, docName: document.name, userId: identity.userId },
            'yjs: re-checking a connection after a resync failed',
          );
        }
      }
    }
  }

  /**
   * Applies a membership change to this node's connections (see MembershipChange). Cross-node
   * delivery is the caller's (attachRealtime publishes it on the bus to every node).
   */
  applyMembershipChange(change: MembershipChange): void {
    this.#membershipEpoch += 1;
    for (const document of this.#documents.values()) {
      for (const connection of [...document.connections]) {
        const identity = connection.identity;
        if (identity?.userId !== change.userId || identity.workspaceId !== change.workspaceId) {
          continue;
        }
        if (change.role === null) {
          connection.close(CloseCodes.Forbidden, 'membership revoked');
        } else {
          connection.setRole(change.role);
        }
        this.emit('role-changed', document.name, change.userId, change.role);
      }
    }
  }

  /**
   * Ends everything of a deleted project on this node: its connections (admitted or still being
   * admitted) close with 4404, which the stock client takes as final, and its loaded documents
   * are dropped without writing anything (their rows went with the project; updates still
   * queued are refused). Cross-node delivery is the caller's, as for membership changes.
   */
  applyProjectDeleted(projectId: string): void {
    const ofProject = (docName: string) => parseYjsDocName(docName)?.projectId === projectId;
    for (const connection of [...this.#admitting]) {
      if (ofProject(connection.docName)) {
        connection.close(CloseCodes.UnknownDocument, 'project deleted');
      }
    }
    for (const document of [...this.#documents.values()]) {
      if (!ofProject(document.name) || document.discarded) continue;
      document.discarded = true;
      this.emit('discarded', document.name);
      for (const connection of [...document.connections]) {
        connection.close(CloseCodes.UnknownDocument, 'project deleted');
      }
      // Unloads at once unless an admission or a server edit still holds it (then on release).
      this.#maybeScheduleUnload(document);
    }
  }

  /**
   * Folds the stored log of a document into its snapshot, queued behind the node's other
   * compactions (one at a time). Works from the store, not from memory, so rows other nodes
   * appended are merged or left alone, never dropped; each step is one store transaction over
   * the snapshot and the oldest `compactionChunk` rows. Resolves false when there was nothing
   * to do or another compaction won.
   */
  async compact(docName: string): Promise<boolean> {
    return (await this.#compactions.request(docName)) > 0;
  }

  /** The scheduler's job: steps until the log is shorter than a chunk (or a cap of steps). */
  async #compactLog(docName: string): Promise<number> {
    let merged = 0;
    for (let step = 0; step < MAX_COMPACTION_STEPS; step += 1) {
      const done = await compactLogStep(
        this.#store,
        docName,
        this.#options.compactionChunk,
        this.#logger,
      );
      merged += done.merged;
      if (!done.more) break;
      if (step === MAX_COMPACTION_STEPS - 1) {
        // Still more: go behind the other documents' compactions and carry on then.
        this.#track(this.#compactions.request(docName));
      }
    }
    this.emit('compacted', docName, merged);
    return merged;
  }

  /**
   * The full state of a document as one Yjs update. Read from the store, which holds every
   * accepted update (memory never holds more), so it is current whichever node the document
   * is loaded on.
   */
  async getDocumentState(docName: string): Promise<Uint8Array> {
    const doc = await this.#readDocument(docName);
    try {
      return Y.encodeStateAsUpdate(doc);
    } finally {
      doc.destroy();
    }
  }

  /** The text of a Y.Text in a document (default: the script text, `script`). */
  async getDocumentText(docName: string, textName: string = SCRIPT_TEXT): Promise<string> {
    const doc = await this.#readDocument(docName);
    try {
      return doc.getText(textName).toString();
    } finally {
      doc.destroy();
    }
  }

  async #readDocument(docName: string): Promise<Y.Doc> {
    const name = parseYjsDocName(docName)?.name;
    if (!name) throw new Error(`unknown document: ${docName}`);
    const doc = new Y.Doc();
    applyStoredDocument(doc, await this.#store.load(name), this.#logger, name, null);
    return doc;
  }

  /**
   * Makes a server-side edit to a document, e.g. the coach writing a decision into the plan.
   * The edit runs on a copy; its changes go through the same pipeline as a client's update
   * (stored, then broadcast here and to the other nodes). Resolves once stored.
   */
  async editDocument(docName: string, edit: DocumentEdit): Promise<void> {
    const name = parseYjsDocName(docName)?.name;
    if (!name) throw new Error(`unknown document: ${docName}`);
    const document = await this.#acquire(name);
    const scratch = new Y.Doc();
    try {
      Y.applyUpdate(scratch, Y.encodeStateAsUpdate(document.doc));
      const updates: Uint8Array[] = [];
      scratch.on('update', (update: Uint8Array) => updates.push(update));
      scratch.transact(() => edit(scratch), SERVER_ORIGIN);
      if (updates.length === 0) return;
      await document.submit(Y.mergeUpdates(updates), SERVER_ORIGIN);
    } finally {
      scratch.destroy();
      this.#release(document);
    }
  }

  #track<T>(promise: Promise<T>): void {
    const tracked = promise.catch((error: unknown) => {
      this.#logger.error({ err: error }, 'yjs: background task failed');
    });
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }

  /**
   * Closes every connection (1001, clients reconnect elsewhere), waits until every accepted
   * update is stored, compacts (when compactOnUnload) and unloads. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#bus.off('resync', this.#onResync);
      for (const connection of [...this.#admitting]) {
        connection.close(CloseCodes.GoingAway, 'server shutting down');
      }
      for (const document of this.#documents.values()) {
        for (const connection of [...document.connections]) {
          connection.close(CloseCodes.GoingAway, 'server shutting down');
        }
      }
      await Promise.allSettled([...this.#documents.values()].map((document) => document.loading));
      await Promise.allSettled([...this.#documents.values()].map((document) => document.idle()));
      await this.#writer.idle();
      for (const document of [...this.#documents.values()]) {
        this.#documents.delete(document.name);
        document.state = 'unloading';
        try {
          await document.unsubscribe();
        } catch (error) {
          this.#logger.warn({ err: error, docName: document.name }, 'yjs: unsubscribing failed');
        }
        document.destroy();
        if (this.#options.compactOnUnload && document.uncompacted > 0 && !document.discarded) {
          this.#track(this.compact(document.name));
        }
      }
      while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
      if (this.#ownsBus) await this.#bus.close();
    })();
    return this.#closing;
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The bus channel of one document. */
function docChannel(docName: string): string {
  return `yjs:${docName}`;
}
