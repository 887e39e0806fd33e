import * as decoding from 'lib0/decoding';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';
import { CloseCodes } from '../shared/close-codes.ts';
import type { MemberRole } from './access-check.ts';
import { canWrite } from './access-check.ts';
import type { SharedDocument } from './shared-document.ts';
import { encodeAwareness, encodeSyncStep1, encodeSyncStep2, MessageType } from './yjs-protocol.ts';

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
}

/**
 * One client of one document, independent of the transport: it reads y-websocket protocol
 * messages (sync and awareness), answers them and feeds accepted updates into the document's
 * write pipeline. Messages that arrive while the connection is still being admitted (token,
 * membership, loading) are kept and handled in order once it opens.
 */
export class DocumentConnection {
  /** Awareness client ids this connection speaks for; removed from awareness when it closes. */
  readonly controlledClients = new Set<number>();
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
          awarenessProtocol.applyAwarenessUpdate(
            document.awareness,
            decoding.readVarUint8Array(decoder),
            this,
          );
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
    this.#document!.submit(update, this).catch((error: unknown) =>
      this.#callbacks.onStoreFailed(this, error),
    );
  }
}
