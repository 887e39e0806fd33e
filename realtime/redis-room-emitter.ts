import type { RoomEventName, RoomEventPayload } from '../shared/socket-events.ts';
import { projectRoom } from '../shared/socket-events.ts';
import type { RealtimeLogger } from './logger.ts';
import { closeRedisClient, createRedisClient, type RedisClient } from './redis-client.ts';
import { DEFAULT_REDIS_KEY_PREFIX, redisNames } from './redis-names.ts';
import type { RoomEmitter } from './room-emitter.ts';

export interface RedisRoomEmitterOptions {
  /**
   * A connected Redis client, owned by the caller; or `{url}`, for which the emitter opens (on
   * first emit) and closes its own connection. That one fails fast during an outage (an emit
   * rejects at once rather than piling up stale progress in memory) and reconnects by itself.
   */
  redis: RedisClient | { url: string };
  /** Where the emitter's own connection reports errors. Default: stderr. */
  logger?: RealtimeLogger;
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
  readonly #ownsClient: boolean;
  readonly #streamName: string;
  readonly #maxLen: number;
  #connecting: Promise<unknown> | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: RedisRoomEmitterOptions) {
    if (!options?.redis) throw new Error('RedisRoomEmitter: redis is required');
    const maxLen = options.streamMaxLen ?? 10_000;
    if (!Number.isInteger(maxLen) || maxLen < 100) {
      throw new Error('RedisRoomEmitter: streamMaxLen must be an integer >= 100');
    }
    if ('url' in options.redis && typeof options.redis.url === 'string') {
      this.#redis = createRedisClient({
        url: options.redis.url,
        name: 'room emitter',
        ...(options.logger ? { logger: options.logger } : {}),
      });
      this.#ownsClient = true;
    } else {
      this.#redis = options.redis as RedisClient;
      this.#ownsClient = false;
    }
    this.#streamName = redisNames(options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX).socketIoStream;
    this.#maxLen = maxLen;
  }

  async emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void> {
    if (this.#closing) throw new Error('RedisRoomEmitter is closed');
    if (this.#ownsClient) {
      this.#connecting ??= this.#redis.connect();
      await this.#connecting;
    }
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

  /** Stops further emits and closes the connection if the emitter opened it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Not waiting for a connect still under way: with Redis down it would wait for Redis.
      if (this.#ownsClient && this.#connecting) await closeRedisClient(this.#redis);
    })();
    return this.#closing;
  }
}
