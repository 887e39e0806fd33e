import type { RoomEventName, RoomEventPayload } from '../shared/socket-events.ts';
import { projectRoom } from '../shared/socket-events.ts';
import type { RedisClient } from './redis-client.ts';
import { DEFAULT_REDIS_KEY_PREFIX, redisNames } from './redis-names.ts';
import type { RoomEmitter } from './room-emitter.ts';

export interface RedisRoomEmitterOptions {
  /**
   * A connected Redis client, owned by the caller: the process's shared one
   * (`RedisConnections.shared`). It should fail fast, so that an emit during an outage rejects
   * at once rather than piling up stale progress in memory.
   */
  redis: RedisClient;
  /** Must equal the hub's `keyPrefix`. Default `reelroom`. */
  keyPrefix?: string;
  /** Must equal the hub's `streamMaxLen`. Default 10 000. */
  streamMaxLen?: number;
}

/**
 * Socket.IO cluster message types (socket-io-adapter's `MessageType`); only BROADCAST is sent.
 * `3` is part of the adapter's stream format, which this emitter writes directly.
 */
const BROADCAST = '3';
/** The uid the adapters reserve for emitters (ClusterAdapter's EMITTER_UID). */
const EMITTER_UID = 'emitter';
/** Socket.IO's EVENT packet type. */
const EVENT_PACKET = 2;

/**
 * A room emitter for processes without sockets (render workers, the coach), over Redis.
 *
 * There is no ready-made emitter for `@socket.io/redis-streams-adapter` (`@socket.io/
 * redis-emitter` speaks the pub/sub adapter's format), so this one appends to the adapter's
 * stream exactly what a hub node appends for `io.to(room).emit(...)`: an entry with fields
 * `uid`, `nsp`, `type` and `data` (JSON of `{packet, opts}`). Every node's adapter reads the
 * stream and delivers the packet to its local sockets in the room; because it is a stream entry
 * it is also replayed to clients recovering their connection state.
 */
export class RedisRoomEmitter implements RoomEmitter {
  readonly #redis: RedisClient;
  readonly #streamName: string;
  readonly #maxLen: number;
  #closed = false;

  constructor(options: RedisRoomEmitterOptions) {
    if (!options?.redis) throw new Error('RedisRoomEmitter: redis is required');
    const maxLen = options.streamMaxLen ?? 10_000;
    if (!Number.isInteger(maxLen) || maxLen < 100) {
      throw new Error('RedisRoomEmitter: streamMaxLen must be an integer >= 100');
    }
    this.#redis = options.redis;
    this.#streamName = redisNames(options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX).socketIoStream;
    this.#maxLen = maxLen;
  }

  async emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void> {
    if (this.#closed) throw new Error('RedisRoomEmitter is closed');
    const data = {
      packet: { type: EVENT_PACKET, data: [event, payload], nsp: '/' },
      opts: { rooms: [projectRoom(projectId)], except: [], flags: {} },
    };
    await this.#redis.xAdd(
      this.#streamName,
      '*',
      { uid: EMITTER_UID, nsp: '/', type: BROADCAST, data: JSON.stringify(data) },
      { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: this.#maxLen } },
    );
  }

  /** Stops further emits; the client stays its owner's. Safe to call twice. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
