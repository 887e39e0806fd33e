// The two client libraries behind one small shape. Each load-client process loads exactly one of
// them, and with it one copy of yjs: the root's (ESM) for y-websocket, the peers' (CommonJS) for
// Hocuspocus. Mixing both in one process would give two yjs instances, which yjs warns about
// and which breaks `instanceof` checks inside the libraries.
import { peerRequire } from './peers.ts';
import type { ClientKind } from './protocol.ts';

/** The part of Y.Text the load generator uses. */
export interface TextLike {
  readonly length: number;
  insert(index: number, text: string): void;
  toString(): string;
  observe(
    handler: (
      event: { delta: Array<{ insert?: unknown }> },
      transaction: { local: boolean },
    ) => void,
  ): void;
}

export interface EditorClient {
  text: TextLike;
  /** Resolves once the first sync with the server is done. */
  synced: Promise<void>;
  destroy(): void;
}

export type ConnectClient = (url: string, docName: string, token: string | null) => EditorClient;

interface DocLike {
  getText(name: string): TextLike;
  destroy(): void;
}
interface ProviderLike {
  on(event: 'sync' | 'synced', listener: (state: unknown) => void): void;
  destroy(): void;
}

/** Stock y-websocket clients, as for Reelroom and the reference server. */
async function yWebsocketClients(): Promise<ConnectClient> {
  const [{ WebsocketProvider }, Y, { WebSocket }] = await Promise.all([
    import('y-websocket'),
    import('yjs'),
    import('ws'),
  ]);
  return (url, docName, token) => {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(url, docName, doc, {
      params: token ? { token } : {},
      WebSocketPolyfill: WebSocket as never,
      disableBc: true,
    });
    const synced = new Promise<void>((resolve) => {
      provider.on('sync', (state: boolean) => state && resolve());
    });
    return {
      text: doc.getText('script'),
      synced,
      destroy: () => {
        provider.destroy();
        doc.destroy();
      },
    };
  };
}

/** Hocuspocus's own provider, one WebSocket per client like y-websocket's. */
function hocuspocusClients(): ConnectClient {
  const Y = peerRequire('yjs') as { Doc: new () => DocLike };
  const { HocuspocusProvider } = peerRequire('@hocuspocus/provider') as {
    HocuspocusProvider: new (configuration: Record<string, unknown>) => ProviderLike;
  };
  const { WebSocket } = peerRequire('ws') as { WebSocket: unknown };
  return (url, docName, token) => {
    const doc = new Y.Doc();
    const provider = new HocuspocusProvider({
      url,
      name: docName,
      document: doc,
      token,
      WebSocketPolyfill: WebSocket,
    });
    const synced = new Promise<void>((resolve) => provider.on('synced', () => resolve()));
    return {
      text: doc.getText('script'),
      synced,
      destroy: () => {
        provider.destroy();
        doc.destroy();
      },
    };
  };
}

export async function clientLibrary(kind: ClientKind): Promise<ConnectClient> {
  return kind === 'hocuspocus' ? hocuspocusClients() : yWebsocketClients();
}
