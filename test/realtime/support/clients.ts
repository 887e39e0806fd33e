import { type Socket as ClientSocket, io as ioClient } from 'socket.io-client';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import type { ClientToServerEvents, ServerToClientEvents } from '../../../shared/socket-events.ts';

// Stock clients, opened the way a browser would, for the realtime tests.

export interface YjsClient {
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** Close codes the provider saw, oldest first. */
  closeCodes: number[];
  text(): string;
  destroy(): void;
}

/** A stock y-websocket client, as a browser would open it, on Node's `ws`. */
export function connectYjs(
  baseWsUrl: string,
  docName: string,
  token: string | null,
  doc: Y.Doc = new Y.Doc(),
): YjsClient {
  const provider = new WebsocketProvider(`${baseWsUrl}/yjs`, docName, doc, {
    params: token === null ? {} : { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    // Clients in one test process would otherwise sync through a BroadcastChannel, behind the
    // servers' backs.
    disableBc: true,
    maxBackoffTime: 250,
  });
  const closeCodes: number[] = [];
  provider.on('connection-close', (event) => {
    if (event) closeCodes.push(event.code);
  });
  return {
    doc,
    provider,
    closeCodes,
    text: () => doc.getText('script').toString(),
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

export type TestSocket = ClientSocket<ServerToClientEvents, ClientToServerEvents>;

/** A stock socket.io client on the websocket transport. */
export function connectSocket(
  baseUrl: string,
  token: string,
  options: Parameters<typeof ioClient>[1] = {},
): TestSocket {
  return ioClient(baseUrl, {
    auth: { token },
    transports: ['websocket'],
    forceNew: true,
    ...options,
  });
}
