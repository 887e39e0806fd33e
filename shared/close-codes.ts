/**
 * WebSocket close codes the Yjs endpoint uses (RFC 6455 reserves 4000-4999 for applications).
 *
 * The 44xx range mirrors HTTP 4xx: the stock y-websocket client treats 4400-4499 as permanent and
 * stops reconnecting, which is what a refused token, a missing membership or an unknown document
 * call for. 45xx is the "try again later" range the client reconnects after.
 */
export const CloseCodes = {
  /** The node is shutting down; the client reconnects (to this or another node). */
  GoingAway: 1001,
  /** An unexpected server error; the client reconnects. */
  InternalError: 1011,
  /** A message could not be decoded (e.g. a malformed Yjs update); nothing of it was stored. */
  BadMessage: 4400,
  /** No access token, or one that is invalid or expired. */
  Unauthorized: 4401,
  /** The user is not (or no longer) a member of the project's workspace. */
  Forbidden: 4403,
  /** The path names no document this server serves. */
  UnknownDocument: 4404,
  /** An update would grow the document past its size limit; nothing of it was stored. */
  TooLarge: 4413,
  /** The user already has as many connections open on this node as one user may. */
  TooManyConnections: 4429,
  /** The document could not be loaded or an update could not be stored; reconnect later. */
  Unavailable: 4503,
} as const;

export type CloseCodeName = keyof typeof CloseCodes;
export type CloseCode = (typeof CloseCodes)[CloseCodeName];

/** Whether the stock y-websocket client gives up after this code instead of reconnecting. */
export function isPermanentCloseCode(code: number): boolean {
  return code >= 4400 && code < 4500;
}
