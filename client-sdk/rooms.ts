import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/socket-events.ts';

/** A Socket.IO connection to the project rooms, typed by the contract's event maps. */
export type RoomSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ConnectRoomsOptions {
  /** Where the service listens, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /**
   * The access token of the handshake (`auth: {token}`). A function is asked again on every
   * (re)connection, so a socket that reconnects after the token was refreshed uses the new one.
   */
  token: string | (() => string);
  /** Ack timeout of `joinProject` / `leaveProject` / `sendChat`, in ms. Default 10 000. */
  ackTimeoutMs?: number;
  /**
   * Called when joining a project again after a reconnect fails. A refusal (`RoomError`: the
   * user was removed, the project deleted meanwhile) also forgets the project; after any other
   * failure (a timeout, a rate limit) the socket keeps trying while it stays connected.
   * Default: a console warning.
   */
  onRejoinFailed?: (projectId: string, error: unknown) => void;
  /**
   * Gets a new access token (the function form of `token` then returns it), called when the
   * server refuses the handshake: after an outage longer than the token's life, the access
   * token has expired. socket.io-client does not retry a refused handshake by itself; with
   * this the socket connects again once it resolves. When it rejects (the session is over),
   * the socket stays disconnected and `onSessionLost` is called. Default none: a refused
   * handshake stays refused (`connect_error`).
   */
  refreshToken?: () => Promise<void>;
  /** `refreshToken` failed: the member has to sign in again. Default: nothing. */
  onSessionLost?: (error: unknown) => void;
}

/** An ack of the room protocol that answered `{error}`: the server refused the request. */
export class RoomError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'RoomError';
    this.code = code;
  }
}

/** Refusals that are worth asking again (later); any other refusal is final. */
const TRANSIENT_CODES = new Set(['rate_limited', 'internal', 'unavailable']);

function isFinalRefusal(error: unknown): error is RoomError {
  return error instanceof RoomError && !TRANSIENT_CODES.has(error.code);
}

/** Called when a project's room is entered or lost (a disconnect, a refusal, a leave). */
export type RoomListener = (projectId: string, joined: boolean) => void;

const DEFAULT_ACK_TIMEOUT_MS = 10_000;
/** Delay before the first retry of a failed re-join; doubled each time up to the cap. */
const REJOIN_RETRY_MS = 250;
const REJOIN_RETRY_MAX_MS = 5_000;
/** Pause before refreshing the token after a refused handshake. */
const REFUSED_RETRY_MS = 1_000;

/**
 * The rooms a socket from `connectRooms` was asked to be in, and whether the current
 * connection is in each: what the socket joins again after a reconnect, and what a page shows.
 */
class RoomMemberships {
  readonly ackTimeoutMs: number;
  /** Project id -> joined on the current connection. Present from the join until the leave. */
  readonly wanted = new Map<string, boolean>();
  readonly #listeners = new Set<RoomListener>();
  /** Callers waiting for a project's room, settled on entry or on a final refusal. */
  readonly #waiters = new Map<string, Set<(error?: unknown) => void>>();

  constructor(ackTimeoutMs: number) {
    this.ackTimeoutMs = ackTimeoutMs;
  }

  set(projectId: string, joined: boolean): void {
    const before = this.wanted.get(projectId);
    this.wanted.set(projectId, joined);
    if (joined) this.#settle(projectId);
    if (before !== joined) this.#notify(projectId, joined);
  }

  forget(projectId: string, error?: unknown): void {
    const was = this.wanted.get(projectId);
    if (!this.wanted.delete(projectId)) return;
    if (error !== undefined) this.#settle(projectId, error);
    if (was) this.#notify(projectId, false);
  }

  /**
   * Every wanted room is lost with the connection (until the socket is back in it). Returns
   * the rooms it was in, which a recovered session gets back.
   */
  disconnected(): Set<string> {
    const joined = new Set<string>();
    for (const [projectId, inRoom] of this.wanted) {
      if (!inRoom) continue;
      joined.add(projectId);
      this.set(projectId, false);
    }
    return joined;
  }

  /** Resolves once the project's room is joined; rejects on a final refusal or the timeout. */
  whenJoined(projectId: string, timeoutMs: number): Promise<void> {
    if (this.wanted.get(projectId) === true) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiters = this.#waiters.get(projectId) ?? new Set();
      this.#waiters.set(projectId, waiters);
      const timer = setTimeout(() => {
        waiters.delete(done);
        reject(new Error(`project ${projectId}: not in its room within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (error?: unknown) => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      waiters.add(done);
    });
  }

  watch(listener: RoomListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #settle(projectId: string, error?: unknown): void {
    const waiters = this.#waiters.get(projectId);
    if (!waiters) return;
    this.#waiters.delete(projectId);
    for (const done of waiters) done(error);
  }

  #notify(projectId: string, joined: boolean): void {
    for (const listener of this.#listeners) listener(projectId, joined);
  }
}

const memberships = new WeakMap<RoomSocket, RoomMemberships>();

/**
 * Opens the Socket.IO connection (default path `/socket.io`) with `auth: {token}`. A bad token
 * fails the handshake (`connect_error`). Reconnection is socket.io-client's own (a server
 * restart included); after every reconnect the socket joins again each project it joined with
 * `joinProject` (and did not leave), unless the server recovered its session with its rooms,
 * retrying while a join times out or is rate limited. Messages sent with `sendChat` meanwhile
 * wait for the room.
 */
export function connectRooms(options: ConnectRoomsOptions): RoomSocket {
  const { token } = options;
  const socket: RoomSocket = io(options.baseUrl, {
    auth: typeof token === 'function' ? (cb) => cb({ token: token() }) : { token },
  });
  const rooms = new RoomMemberships(options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS);
  memberships.set(socket, rooms);
  const onRejoinFailed =
    options.onRejoinFailed ??
    ((projectId: string, error: unknown) => {
      console.warn(`reelroom: joining project ${projectId} again after a reconnect failed`, error);
    });

  /** Joins until in the room, refused for good, left, or disconnected (the next connect goes on). */
  const rejoin = async (projectId: string) => {
    // One loop per connection: a loop of an earlier connection stops at its next turn.
    const connection = socket.id;
    const current = () => socket.connected && socket.id === connection;
    for (let attempt = 0; current() && rooms.wanted.get(projectId) === false; attempt++) {
      try {
        await emitJoin(socket, rooms, projectId);
        // Answered on this connection: in the room (unless it dropped meanwhile).
        if (current() && rooms.wanted.has(projectId)) rooms.set(projectId, true);
        return;
      } catch (error) {
        if (isFinalRefusal(error)) {
          rooms.forget(projectId, error);
          onRejoinFailed(projectId, error);
          return;
        }
        if (attempt === 0) onRejoinFailed(projectId, error);
        await delay(Math.min(REJOIN_RETRY_MS * 2 ** attempt, REJOIN_RETRY_MAX_MS));
      }
    }
  };

  /** The rooms the connection was in when it dropped. */
  let inRoomsAtDisconnect = new Set<string>();
  socket.on('disconnect', () => {
    inRoomsAtDisconnect = rooms.disconnected();
  });
  socket.on('connect', () => {
    // A recovered session (Socket.IO's connection state recovery) comes back with the rooms
    // it was in; joins that were still under way are asked again. A new session (the server
    // restarted, or refused the recovery) is in no room: every wanted room is joined again.
    const kept = socket.recovered ? inRoomsAtDisconnect : new Set<string>();
    inRoomsAtDisconnect = new Set();
    for (const projectId of [...rooms.wanted.keys()]) {
      if (kept.has(projectId)) rooms.set(projectId, true);
      else void rejoin(projectId);
    }
  });
  socket.on('project:deleted', ({ projectId }) =>
    rooms.forget(projectId, new RoomError('not_found', 'the project was deleted')),
  );

  const refreshToken = options.refreshToken;
  if (refreshToken) {
    let refreshing = false;
    socket.on('connect_error', () => {
      // Still active: a network error, which socket.io-client retries itself. Inactive: the
      // server refused the handshake (middleware error), which it never retries.
      if (socket.active || refreshing) return;
      refreshing = true;
      // A pause first: a refusal that no refresh cures (too many connections) must not spin.
      delay(REFUSED_RETRY_MS)
        .then(refreshToken)
        .then(
          () => {
            refreshing = false;
            socket.connect();
          },
          (error: unknown) => {
            refreshing = false;
            options.onSessionLost?.(error);
          },
        );
    });
  }
  return socket;
}

/**
 * Joins `project:<projectId>`; rejects with RoomError when refused (not a member, deleted). A
 * socket from `connectRooms` joins it again by itself after every reconnect, until
 * `leaveProject`; called while disconnected, it resolves once the socket is back and joined
 * (or rejects after the ack timeout, and the socket still joins when it reconnects).
 */
export async function joinProject(socket: RoomSocket, projectId: string): Promise<void> {
  const rooms = memberships.get(socket);
  if (!rooms) {
    unwrap(await ack(socket, DEFAULT_ACK_TIMEOUT_MS).emitWithAck('project:join', { projectId }));
    return;
  }
  // Wanted before the answer: a reconnect while this join is under way joins it again.
  if (!rooms.wanted.has(projectId)) rooms.set(projectId, false);
  const joined = rooms.whenJoined(projectId, rooms.ackTimeoutMs);
  if (socket.connected) {
    const connection = socket.id;
    emitJoin(socket, rooms, projectId).then(
      () => {
        if (socket.connected && socket.id === connection && rooms.wanted.has(projectId)) {
          rooms.set(projectId, true);
        }
      },
      (error: unknown) => {
        // Final refusals end the wait; anything else is retried by the next reconnect.
        if (isFinalRefusal(error)) rooms.forget(projectId, error);
      },
    );
  }
  await joined;
}

/** Leaves the project's room (and stops joining it again after reconnects). */
export async function leaveProject(socket: RoomSocket, projectId: string): Promise<void> {
  const rooms = memberships.get(socket);
  rooms?.forget(projectId, new RoomError('left', 'the project was left'));
  const timeoutMs = rooms?.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  unwrap(await ack(socket, timeoutMs).emitWithAck('project:leave', { projectId }));
}

/**
 * Sends a chat message to the project's coach chat (`chat:send`); resolves with the stored
 * message's id. The message and the coach's reply come back to the room as `chat:*` events.
 * On a socket from `connectRooms` that is joining the project again (after a reconnect), the
 * message waits for the room first: sent before, the server would refuse it as `not_joined`.
 */
export async function sendChat(
  socket: RoomSocket,
  projectId: string,
  content: string,
): Promise<string> {
  const rooms = memberships.get(socket);
  const timeoutMs = rooms?.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  if (rooms?.wanted.has(projectId)) await rooms.whenJoined(projectId, timeoutMs);
  const response = await ack(socket, timeoutMs).emitWithAck('chat:send', { projectId, content });
  return unwrap(response).messageId;
}

/**
 * Whether a socket from `connectRooms` is in the project's room right now: joined, and neither
 * disconnected nor joining again after a reconnect. What a page's connection status shows.
 */
export function isInRoom(socket: RoomSocket, projectId: string): boolean {
  return socket.connected && memberships.get(socket)?.wanted.get(projectId) === true;
}

/**
 * Calls `listener` whenever a socket from `connectRooms` enters or loses one of its rooms
 * (disconnects, re-joins, refusals, leaves). Returns what stops it.
 */
export function watchRooms(socket: RoomSocket, listener: RoomListener): () => void {
  return memberships.get(socket)?.watch(listener) ?? (() => {});
}

async function emitJoin(socket: RoomSocket, rooms: RoomMemberships, projectId: string) {
  unwrap(await ack(socket, rooms.ackTimeoutMs).emitWithAck('project:join', { projectId }));
}

function ack(socket: RoomSocket, timeoutMs: number) {
  return socket.timeout(timeoutMs);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function unwrap<T extends object>(response: T | { error: { code: string; message: string } }): T {
  if ('error' in response) throw new RoomError(response.error.code, response.error.message);
  return response;
}
