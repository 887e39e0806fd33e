import type * as Y from 'yjs';
import type { RoomEventName, RoomEventPayload } from '../../shared/socket-events.ts';

/*
 * What the coach needs from the rest of the node, as small interfaces of its own: the
 * composition root (server/runtime.ts) adapts the realtime core to them, and the coach never
 * sees a socket, a hub or a Yjs connection.
 */

/** Sends room events (`chat:*`, `decision:detected`) to everyone in a project's room, on every node. */
export interface RoomEmitter {
  /** Resolves once the event was handed to the room (and to the other nodes, with Redis). */
  emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void>;
}

/** The project's plan document (`project/<id>/plan`), for the coach's decisions and templates. */
export interface PlanDocumentEditor {
  /**
   * Applies `edit` to the plan Y.Doc as a server edit: stored, then sent to every client on
   * every node like a member's edit. Resolves once stored.
   */
  edit(projectId: string, edit: (doc: Y.Doc) => void): Promise<void>;
  /** The plan document's current state, as one Yjs update. */
  state(projectId: string): Promise<Uint8Array>;
}

/** The project's script (`project/<id>/script`), read for the coach's context. */
export interface ScriptReader {
  /** The script text as stored now. */
  text(projectId: string): Promise<string>;
}
