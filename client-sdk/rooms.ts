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
   * failure (a timeout) the next reconnect tries again. Default: a console warning.
   */
  onRejoinFailed?: (projectId: string, error: unknown) => void;
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

const ackTimeouts = new WeakMap<RoomSocket, number>();
const DEFAULT_ACK_TIMEOUT_MS = 10_000;
/** The projects each socket joined (and did not leave), to join again after a reconnect. */
const joinedProjects = new WeakMap<RoomSocket, Set<string>>();

/**
 * Opens the Socket.IO connection (default path `/socket.io`) with `auth: {token}`. A bad token
 * fails the handshake (`connect_error`). Reconnection is socket.io-client's own (a server
 * restart included); after a reconnect the socket joins again the projects it had joined with
 * `joinProject`, unless the server recovered its session with its rooms.
 */
export function connectRooms(options: ConnectRoomsOptions): RoomSocket {
  const { token } = options;
  const socket: RoomSocket = io(options.baseUrl, {
    auth: typeof token === 'function' ? (cb) => cb({ token: token() }) : { token },
  });
  ackTimeouts.set(socket, options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS);
  const joined = new Set<string>();
  joinedProjects.set(socket, joined);
  const onRejoinFailed =
    options.onRejoinFailed ??
    ((projectId: string, error: unknown) => {
      console.warn(`reelroom: joining project ${projectId} again after a reconnect failed`, error);
    });
  socket.on('connect', () => {
    // A recovered session (Socket.IO's connection state recovery) comes back with its rooms.
    if (socket.recovered) return;
    for (const projectId of joined) {
      joinProject(socket, projectId).catch((error: unknown) => {
        if (error instanceof RoomError) joined.delete(projectId);
        onRejoinFailed(projectId, error);
      });
    }
  });
  socket.on('project:deleted', ({ projectId }) => joined.delete(projectId));
  return socket;
}

/**
 * Joins `project:<projectId>`; rejects with RoomError when refused (not a member, deleted). A
 * socket from `connectRooms` joins it again by itself after a reconnect.
 */
export async function joinProject(socket: RoomSocket, projectId: string): Promise<void> {
  unwrap(await ack(socket).emitWithAck('project:join', { projectId }));
  joinedProjects.get(socket)?.add(projectId);
}

/** Leaves the project's room (and stops joining it again after reconnects). */
export async function leaveProject(socket: RoomSocket, projectId: string): Promise<void> {
  joinedProjects.get(socket)?.delete(projectId);
  unwrap(await ack(socket).emitWithAck('project:leave', { projectId }));
}

/**
 * Sends a chat message to the project's coach chat (`chat:send`); resolves with the stored
 * message's id. The message and the coach's reply come back to the room as `chat:*` events.
 */
export async function sendChat(
  socket: RoomSocket,
  projectId: string,
  content: string,
): Promise<string> {
  return unwrap(await ack(socket).emitWithAck('chat:send', { projectId, content })).messageId;
}

function ack(socket: RoomSocket) {
  return socket.timeout(ackTimeouts.get(socket) ?? DEFAULT_ACK_TIMEOUT_MS);
}

function unwrap<T extends object>(response: T | { error: { code: string; message: string } }): T {
  if ('error' in response) throw new RoomError(response.error.code, response.error.message);
  return response;
}
