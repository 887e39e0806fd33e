import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { CloseCodes } from '../shared/close-codes.ts';
import type { YjsDocKind, YjsDocName } from '../shared/yjs-docs.ts';

export interface OpenProjectDocumentOptions {
  /** Where the service listens, e.g. `http://localhost:8080`; `http(s)` becomes `ws(s)`. */
  baseUrl: string;
  /**
   * The access token, sent as the `token` query parameter. A function is asked again on every
   * (re)connection, so a provider that reconnects after the token was refreshed uses the new one.
   */
  token: string | (() => string);
  /**
   * Gets a new access token (the function form of `token` then returns it), called when the
   * server closes the connection with 4401: the access token expired, for instance during an
   * outage longer than its life. The stock provider never reconnects after a 44xx close; with
   * this it connects again once the refresh resolves. Default none: a 4401 close is final.
   * A 4403 (not a member) is final either way.
   */
  refreshToken?: () => Promise<void>;
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
  const params: Record<string, string> = {};
  const { token } = options;
  // y-websocket reads `params` each time it builds the URL, i.e. on every (re)connection.
  Object.defineProperty(params, 'token', {
    enumerable: true,
    get: typeof token === 'function' ? token : () => token,
    // `provider.params.token = ...` still works, as the stock provider documents.
    set: (value: string) => Object.defineProperty(params, 'token', { value, enumerable: true }),
    configurable: true,
  });
  const provider = new WebsocketProvider(url, name, doc, {
    params,
    disableBc: options.disableBc ?? false,
    ...(options.WebSocketPolyfill
      ? { WebSocketPolyfill: options.WebSocketPolyfill as typeof WebSocket }
      : {}),
  });
  const refreshToken = options.refreshToken;
  if (refreshToken) {
    provider.on('closed', ({ code }) => {
      if (code !== CloseCodes.Unauthorized) return;
      refreshToken().then(
        () => provider.connect(),
        () => undefined,
      );
    });
  }
  return { doc, provider };
}
