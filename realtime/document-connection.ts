import * as decoding from 'lib0/decoding';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';
import { CloseCodes } from '../shared/close-codes.ts';
import type { MemberRole } from './access-check.ts';
import { canWrite } from './access-check.ts';
import type { SharedDocument } from './shared-document.ts';
import { UpdateRefusedError } from './update-validator.ts';
import {
  type AwarenessEntry,
  decodeAwarenessUpdate,
  encodeAwareness,
  encodeAwarenessEntries,
  encodeSyncStep1,
  encodeSyncStep2,
  MessageType,
} from './yjs-protocol.ts';

/**
 * The transport side of a connection: how to send it a message and how to close it. The
 * WebSocket shell implements it over `ws`; anything that carries binary messages could.
 */
export interface DocumentPeer {
  send(message: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** Who is on the other end of an admitted connection. */
export interface ConnectionIdentity {
  userId: string;
  name: string;
  projectId: string;
  workspaceId: string;
  role: MemberRole;
}

export type ConnectionState = 'admitting' | 'open' | 'closed';

export interface DocumentConnectionCallbacks {
  /** A viewer sent an update; it was dropped. */
  onDroppedUpdate(connection: DocumentConnection): void;
  /**
   * An update the client sent could not be stored (so it was not applied either). The callee
   * closes the connection, with a code that tells the client whether to come back.
   */
  onStoreFailed(connection: DocumentConnection, error: unknown): void;
  /** The connection closed (either side); it has already left its document. */
  onClosed(connection: DocumentConnection, code: number): void;
  /** The client sent awareness for a client id it does not own; that entry was dropped. */
  onForeignAwareness?(connection: DocumentConnection, clientId: number): void;
}

/**
 * Awareness client ids one connection may speak for. A y-websocket client has one (its doc's
 * client id); a few more leave room for a client that changes its id, not for impersonation.
 */
const MAX_AWARENESS_CLIENTS_PER_CONNECTION = 4;

/**
 * One client of one document, independent of the transport: it reads y-websocket protocol
 * messages (sync and awareness), answers them and feeds accepted updates into the document's
 * write pipeline. Messages that arrive while the connection is still being admitted (token,
 * membership, loading) are kept and handled in order once it opens.
 */
export class DocumentConnection {
  /** Awareness client ids this connection speaks for; removed from awareness when it closes. */
  readonly controlledClients = new Set<number>();
  /** Awareness client ids this connection announced first, while no one else held them. */
  readonly #ownedClients = new Set<number>();
  #state: ConnectionState = 'admitting';
  #document: SharedDocument | null = null;
  #identity: ConnectionIdentity | null = null;
  readonly #inbox: Uint8Array[] = [];
  readonly #peer: DocumentPeer;
  readonly #callbacks: DocumentConnectionCallbacks;
  readonly #maxPendingMessages: number;

  constructor(
    readonly docName: string,
    peer: DocumentPeer,
    callbacks: DocumentConnectionCallbacks,
    maxPendingMessages: number,
  ) {
    this.#peer = peer;
    this.#callbacks = callbacks;
    this.#maxPendingMessages = maxPendingMessages;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Null until admitted. */
  get identity(): Readonly<ConnectionIdentity> | null {
    return this.#identity;
  }

  /** Null until admitted. */
  get document(): SharedDocument | null {
    return this.#document;
  }

  /** Hands a message received from the client to the connection. */
  receive(message: Uint8Array): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'admitting') {
      if (this.#inbox.length >= this.#maxPendingMessages) {
        this.close(CloseCodes.BadMessage, 'too many messages before the connection was admitted');
        return;
      }
      this.#inbox.push(message);
      return;
    }
    this.#handle(message);
  }

  /**
   * Admits the connection to its loaded document: sends sync step 1 (so the client sends what
   * the server misses) and the current awareness, then handles what the client already sent.
   */
  open(document: SharedDocument, identity: ConnectionIdentity): void {
    if (this.#state !== 'admitting') return;
    this.#state = 'open';
    this.#document = document;
    this.#identity = { ...identity };
    document.connections.add(this);
    this.send(encodeSyncStep1(document.doc));
    if (document.awareness.getStates().size > 0) this.send(encodeAwareness(document.awareness));
    for (const message of this.#inbox.splice(0)) {
      if (this.#state !== 'open') break;
      this.#handle(message);
    }
  }

  /** Changes the role of an open connection; a viewer's updates are dropped from then on. */
  setRole(role: MemberRole): void {
    if (this.#identity) this.#identity.role = role;
  }

  send(message: Uint8Array): void {
    if (this.#state !== 'open') return;
    this.#peer.send(message);
  }

  /** Closes the connection from the server side with a close code. Safe to call twice. */
  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#peer.close(code, reason);
    this.#closed(code);
  }

  /** The transport reports that the client went away. Safe to call twice. */
  transportClosed(code = 1005): void {
    if (this.#state === 'closed') return;
    this.#closed(code);
  }

  #closed(code: number): void {
    this.#state = 'closed';
    this.#inbox.length = 0;
    const document = this.#document;
    if (document) {
      document.connections.delete(this);
      for (const clientId of this.#ownedClients) {
        if (document.awarenessOwners.get(clientId) === this)
          document.awarenessOwners.delete(clientId);
      }
      if (this.controlledClients.size > 0) {
        // Tell everyone (here and on other nodes) that this client's cursors are gone.
        awarenessProtocol.removeAwarenessStates(
          document.awareness,
          [...this.controlledClients],
          this,
        );
      }
    }
    this.#callbacks.onClosed(this, code);
  }

  #handle(message: Uint8Array): void {
    const document = this.#document!;
    try {
      const decoder = decoding.createDecoder(message);
      const type = decoding.readVarUint(decoder);
      switch (type) {
        case MessageType.Sync: {
          const step = decoding.readVarUint(decoder);
          if (step === syncProtocol.messageYjsSyncStep1) {
            this.send(encodeSyncStep2(document.doc, decoding.readVarUint8Array(decoder)));
          } else if (
            step === syncProtocol.messageYjsSyncStep2 ||
            step === syncProtocol.messageYjsUpdate
          ) {
            this.#receiveUpdate(decoding.readVarUint8Array(decoder));
          } else {
            throw new Error(`unknown sync message type ${step}`);
          }
          break;
        }
        case MessageType.Awareness:
          // Viewers may share presence and cursors: awareness is not document content.
          this.#receiveAwareness(decoding.readVarUint8Array(decoder));
          break;
        case MessageType.QueryAwareness:
          this.send(encodeAwareness(document.awareness));
          break;
        default:
          // Auth messages and types of newer protocol versions carry nothing we act on.
          break;
      }
    } catch {
      this.close(CloseCodes.BadMessage, 'malformed message');
    }
  }

  #receiveUpdate(update: Uint8Array): void {
    // Decoding the whole update up front means a malformed one closes the connection before
    // anything was stored (throws into #handle's catch).
    const decoded = Y.decodeUpdate(update);
    // An empty update (e.g. the sync step 2 of a client with nothing new) changes nothing.
    if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) return;
    if (!canWrite(this.#identity!.role)) {
      // Read-only: not applied, not stored, not forwarded. The client is not told, as with
      // y-websocket's own read-only mode; its copy simply never converges with that edit.
      this.#callbacks.onDroppedUpdate(this);
      return;
    }
    let stored: Promise<void>;
    try {
      stored = this.#document!.submit(update, this);
    } catch (error) {
      // Checked on a scratch copy and refused: nothing was stored, applied or forwarded.
      if (!(error instanceof UpdateRefusedError)) throw error;
      if (error.reason === 'too_large') this.close(CloseCodes.TooLarge, 'document too large');
      else this.close(CloseCodes.BadMessage, 'update does not apply');
      return;
    }
    stored.catch((error: unknown) => this.#callbacks.onStoreFailed(this, error));
  }

  /**
   * Applies the client's awareness, reduced to what this connection may say: entries for the
   * awareness client ids it owns (see `SharedDocument.awarenessOwners`: the ids it announced
   * first, while nobody here or on another node held them), with each state's `user.id` and
   * `user.name` set to who the server knows is connected (other `user` fields, such as a cursor
   * colour, are the client's). Entries for anyone else's id are dropped: no one can move,
   * remove or rename another's presence.
   */
  #receiveAwareness(update: Uint8Array): void {
    const document = this.#document!;
    const identity = this.#identity!;
    const entries: AwarenessEntry[] = [];
    for (const entry of decodeAwarenessUpdate(update)) {
      if (!this.#claim(document, entry.clientId, entry.state !== null)) {
        // Stock clients echo every state they get back to the server: only a different one is
        // an attempt worth reporting.
        const shown = document.awareness.getStates().get(entry.clientId) ?? null;
        if (JSON.stringify(shown) !== JSON.stringify(entry.state)) {
          this.#callbacks.onForeignAwareness?.(this, entry.clientId);
        }
        continue;
      }
      entries.push({ ...entry, state: withUser(entry.state, identity) });
    }
    if (entries.length === 0) return;
    awarenessProtocol.applyAwarenessUpdate(
      document.awareness,
      encodeAwarenessEntries(entries),
      this,
    );
  }

  /**
   * Whether this connection speaks for an awareness client id: it owns it, or takes it now (a
   * state, not a removal, for an id nobody owns or shows, within the per-connection cap).
   */
  #claim(document: SharedDocument, clientId: number, announcing: boolean): boolean {
    const owner = document.awarenessOwners.get(clientId);
    if (owner) return owner === this;
    // Shown by a client of another node (or left by a closed one): not ours to take.
    if (!announcing || document.awareness.getStates().has(clientId)) return false;
    if (this.#ownedClients.size >= MAX_AWARENESS_CLIENTS_PER_CONNECTION) return false;
    this.#ownedClients.add(clientId);
    document.awarenessOwners.set(clientId, this);
    return true;
  }
}

/** An awareness state with the connection's identity as its `user` (null stays null). */
function withUser(state: unknown, identity: ConnectionIdentity): unknown {
  if (state === null) return null;
  const object =
    typeof state === 'object' && !Array.isArray(state) ? (state as Record<string, unknown>) : {};
  const user =
    typeof object.user === 'object' && object.user !== null && !Array.isArray(object.user)
      ? (object.user as Record<string, unknown>)
      : {};
  return { ...object, user: { ...user, id: identity.userId, name: identity.name } };
}
