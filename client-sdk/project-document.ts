import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import type { YjsDocKind, YjsDocName } from '../shared/yjs-docs.ts';

export interface OpenProjectDocumentOptions {
  /** Where the service listens, e.g. `http://localhost:8080`; `http(s)` becomes `ws(s)`. */
  baseUrl: string;
  /** The access token, sent as the `token` query parameter. */
  token: string;
  projectId: string;
  /** `script` (a Y.Text `script`) or `plan` (a Y.Map `plan` and a Y.Array `decisions`). */
  kind: YjsDocKind;
  /** The document to sync into; default a new Y.Doc. */
  doc?: Y.Doc;
  /**
   * The WebSocket class. Browsers have one; in Node 20 pass `WebSocket` from `ws`. Default the
   * global WebSocket.
   */
  WebSocketPolyfill?: unknown;
  /**
   * Do not share updates with other providers of the same document in this browser (or
   * process) over a BroadcastChannel. Default false, y-websocket's default. Set it when several
   * users' documents live side by side, as in tests: a viewer's local edits would otherwise
   * reach an editor's document without the server.
   */
  disableBc?: boolean;
}

export interface ProjectDocument {
  doc: Y.Doc;
  /**
   * The stock y-websocket provider: `synced`, `awareness`, `on('sync' | 'status')`, and its own
   * reconnection. A connection refused by the server closes with 4401 (token) or 4403 (not a
   * member). To connect with a refreshed token, set `provider.params.token` (used from the next
   * connection on). `provider.destroy()` closes it.
   */
  provider: WebsocketProvider;
}

/**
 * Connects a project's Yjs document (`project/<projectId>/<kind>`) over the y-websocket
 * protocol at `/yjs`. Viewers receive updates, but their own are not applied by the server.
 */
export function openProjectDocument(options: OpenProjectDocumentOptions): ProjectDocument {
  const doc = options.doc ?? new Y.Doc();
  const url = `${options.baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/yjs`;
  // Spelled out rather than `yjsDocName()`, which would pull zod into browser bundles.
  const name: YjsDocName = `project/${encodeURIComponent(options.projectId)}/${options.kind}`;
  const provider = new WebsocketProvider(url, name, doc, {
    params: { token: options.token },
    disableBc: options.disableBc ?? false,
    ...(options.WebSocketPolyfill
      ? { WebSocketPolyfill: options.WebSocketPolyfill as typeof WebSocket }
      : {}),
  });
  return { doc, provider };
}
