import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { CloseCodes } from '../shared/close-codes.ts';
import type { DocumentManager } from './document-manager.ts';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';

export interface YjsWebSocketServerOptions {
  /** The document core the connections are handed to. Required. */
  documents: DocumentManager;
  /** URL path under which documents are served: `<pathPrefix>/<docName>`. Default `/yjs`. */
  pathPrefix?: string;
  /**
   * Largest message accepted, in bytes. Default 8 MiB: a pasted chapter is far smaller, an
   * abusive client is cut off before it costs memory.
   */
  maxPayloadBytes?: number;
  /**
   * Interval of WebSocket pings, in ms; a connection that did not answer the previous ping is
   * terminated. Default 30 000, so half-open connections (a laptop lid closed) free their
   * document within a minute.
   */
  pingIntervalMs?: number;
  /** Default: warnings and errors to stderr. */
  logger?: RealtimeLogger;
}

const DEFAULTS = {
  pathPrefix: '/yjs',
  maxPayloadBytes: 8 * 1024 * 1024,
  pingIntervalMs: 30_000,
};

/**
 * The y-websocket shell: takes HTTP upgrades under `/yjs/`, turns each socket into a
 * {@link DocumentManager} connection and carries binary messages both ways. Everything about
 * documents, tokens and permissions lives in the core.
 */
export class YjsWebSocketServer {
  readonly #documents: DocumentManager;
  readonly #options: typeof DEFAULTS;
  readonly #logger: RealtimeLogger;
  readonly #wss: WebSocketServer;
  readonly #alive = new WeakMap<WebSocket, boolean>();
  readonly #pingTimer: NodeJS.Timeout;
  #closing: Promise<void> | null = null;

  constructor(options: YjsWebSocketServerOptions) {
    if (!options?.documents) throw new Error('YjsWebSocketServer: documents is required');
    const merged = {
      pathPrefix: options.pathPrefix ?? DEFAULTS.pathPrefix,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
    };
    if (!/^\/[^?#]*[^/?#]$/.test(merged.pathPrefix)) {
      throw new Error('YjsWebSocketServer: pathPrefix must start with / and not end with /');
    }
    if (!Number.isInteger(merged.maxPayloadBytes) || merged.maxPayloadBytes < 1024) {
      throw new Error('YjsWebSocketServer: maxPayloadBytes must be an integer >= 1024');
    }
    if (!Number.isFinite(merged.pingIntervalMs) || merged.pingIntervalMs < 100) {
      throw new Error('YjsWebSocketServer: pingIntervalMs must be >= 100');
    }
    this.#options = merged;
    this.#documents = options.documents;
    this.#logger = options.logger ?? stderrLogger;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: merged.maxPayloadBytes,
      perMessageDeflate: false,
    });
    this.#pingTimer = setInterval(() => this.#ping(), merged.pingIntervalMs);
    this.#pingTimer.unref();
  }

  /** Whether an upgrade request is for this server (its path is under the prefix). */
  handles(request: IncomingMessage): boolean {
    const path = (request.url ?? '').split('?', 1)[0]!;
    return path.startsWith(`${this.#options.pathPrefix}/`);
  }

  /**
   * Completes the WebSocket handshake for a request under the prefix. Refusals (unknown
   * document, bad token, not a member) happen after the handshake, with a close code, because
   * a browser WebSocket cannot see the status of a refused upgrade.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    let docName: string;
    try {
      docName = decodeURIComponent(url.pathname.slice(this.#options.pathPrefix.length + 1));
    } catch {
      docName = '';
    }
    const token = url.searchParams.get('token');
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#onConnection(ws, docName, token));
  }

  #onConnection(ws: WebSocket, docName: string, token: string | null): void {
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));
    const connection = this.#documents.openConnection(
      {
        send: (message) => {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(message, { binary: true }, (error) => {
            if (error) ws.terminate();
          });
        },
        close: (code, reason) => {
          if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
        },
      },
      { docName, token },
    );
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        connection.close(CloseCodes.BadMessage, 'text frames are not part of the protocol');
        return;
      }
      connection.receive(toUint8Array(data));
    });
    ws.on('close', (code) => connection.transportClosed(code));
    ws.on('error', (error) => {
      this.#logger.debug({ err: error, docName }, 'yjs: websocket error');
      connection.transportClosed(CloseCodes.InternalError);
    });
  }

  #ping(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      ws.ping();
    }
  }

  /**
   * Stops taking upgrades and drops the sockets that are left (the document core closes its
   * connections with 1001 in its own close). Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#pingTimer);
      for (const ws of this.#wss.clients) ws.close(CloseCodes.GoingAway, 'server shutting down');
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    })();
    return this.#closing;
  }
}

function toUint8Array(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
