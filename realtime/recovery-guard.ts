import type { Namespace } from 'socket.io';

/** What Socket.IO's connection state recovery brings back: the socket's rooms and data. */
export interface RecoveredSession {
  sid: string;
  rooms: string[];
  data: unknown;
}

/**
 * Decides whether a session may be recovered, before any of it is restored. Resolving false
 * refuses it: the client connects as a new socket instead (through the handshake middlewares,
 * with no rooms and no replayed packets) and joins again.
 */
export type RecoveryCheck = (session: RecoveredSession) => Promise<boolean>;

type Adapter = Namespace['adapter'];

/**
 * Makes a namespace's adapter consult `check` before it restores a session (the in-memory
 * adapter and the Redis streams adapter alike; the adapter instance is wrapped in place).
 *
 * Why here: Socket.IO restores a recovered session inside the socket's constructor, which joins
 * the old rooms and writes the missed packets to the client before any middleware or
 * `connection` listener runs (and recovered sockets skip the middlewares altogether with
 * `skipMiddlewares`). The adapter's `restoreSession` is the one step before that: a member
 * removed while disconnected must not get the room's packets replayed, nor rejoin the room.
 * The missed packets carry no room, so a session that lost any room is refused whole.
 */
export function guardRecovery(adapter: Adapter, check: RecoveryCheck): void {
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    if (!session) return session;
    // Socket.IO takes a rejection as "nothing to restore" and builds a new socket.
    if (!(await check(session))) throw new Error('session recovery refused');
    return session;
  };
}
