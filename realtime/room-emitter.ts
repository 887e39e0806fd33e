import type { RoomEventName, RoomEventPayload } from '../shared/socket-events.ts';
import { projectRoom } from '../shared/socket-events.ts';
import type { HubServer } from './socket-hub.ts';

/**
 * Publishes events to a project room without holding a socket: render workers, the pipeline
 * and the coach use it to reach everyone in the room, on every node.
 */
export interface RoomEmitter {
  /** Sends `event` to everyone in `project:<projectId>`. Resolves once handed to the cluster. */
  emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void>;
  /** Releases what the emitter owns. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The emitter of a process that runs the hub: `io.to(room).emit`, which the hub's adapter
 * carries to the other nodes when it has Redis.
 */
export class ServerRoomEmitter implements RoomEmitter {
  readonly #io: HubServer;

  constructor(io: HubServer) {
    if (!io) throw new Error('ServerRoomEmitter: io is required');
    this.#io = io;
  }

  async emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void> {
    // The typed emit cannot see that `payload` matches `event` through the generic.
    const room = this.#io.to(projectRoom(projectId)) as unknown as {
      emit(event: string, payload: unknown): boolean;
    };
    room.emit(event, payload);
  }

  async close(): Promise<void> {}
}
