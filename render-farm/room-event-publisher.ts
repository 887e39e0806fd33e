import type { RoomEventName, RoomEventPayload } from '../shared/socket-events.ts';

/**
 * Sends an event to a project's room without a socket (the realtime emitter over Redis, or the
 * hub itself in embedded mode). Workers never hold sockets.
 */
export interface RoomEventPublisher {
  emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void> | void;
}
