import { EventEmitter } from 'node:events';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';
import type { BusListener, MessageBus, MessageBusEvents, Unsubscribe } from './message-bus.ts';
import { type RedisClient, watchRedisConnection } from './redis-client.ts';

export interface RedisMessageBusOptions {
  /**
   * A connected client used to publish (best made with `createRedisClient`, failing fast: a
   * publish during an outage is lost either way, the resync covers it); the bus duplicates it
   * for its subscriber connection.
   */
  redis: RedisClient;
  /** Prefix of every channel name, e.g. `reelroom:bus:`. Required: it isolates deployments. */
  channelPrefix: string;
  /** Default: warnings and errors to stderr. */
  logger?: RealtimeLogger;
}

/**
 * The message bus over Redis pub/sub.
 *
 * Why pub/sub and not streams: the bus is only the low-latency path between nodes. Every Yjs
 * update is committed to the database before it is published, so the database, not Redis, is
 * the log that must not lose anything. Pub/sub delivers in order per connection with no
 * trimming or consumer bookkeeping, and a node subscribes per loaded document, which a blocking
 * XREAD over a changing set of stream keys would make awkward. The one weakness, messages
 * published while our subscriber connection is down, is covered by the `resync` event: after a
 * reconnect every subscriber reconciles from the database (y-redis keeps a stream because there
 * Redis *is* the first durable log; here it is not).
 */
export class RedisMessageBus extends EventEmitter<MessageBusEvents> implements MessageBus {
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #prefix: string;
  readonly #logger: RealtimeLogger;
  readonly #listeners = new Map<string, Set<BusListener>>();
  /** Serialises SUBSCRIBE/UNSUBSCRIBE per channel so a quick unsubscribe+subscribe keeps order. */
  readonly #pending = new Map<string, Promise<void>>();
  #connected: Promise<void> | null = null;
  #wasReady = false;
  #closing: Promise<void> | null = null;

  constructor(options: RedisMessageBusOptions) {
    super();
    if (!options.redis) throw new Error('RedisMessageBus: redis is required');
    if (!options.channelPrefix) throw new Error('RedisMessageBus: channelPrefix is required');
    this.#publisher = options.redis;
    this.#prefix = options.channelPrefix;
    this.#logger = options.logger ?? stderrLogger;
    // The duplicate keeps the publisher's reconnection policy; its listeners are its own.
    this.#subscriber = options.redis.duplicate();
    watchRedisConnection(this.#subscriber, 'realtime bus subscriber', this.#logger);
    this.#subscriber.on('ready', () => {
      // node-redis resubscribes by itself after a reconnect, but whatever was published while
      // the connection was down is gone: tell subscribers to reconcile from the store.
      if (this.#wasReady) this.emit('resync');
      this.#wasReady = true;
    });
  }

  #connect(): Promise<void> {
    this.#connected ??= this.#subscriber.connect().then(() => undefined);
    return this.#connected;
  }

  async subscribe(channel: string, listener: BusListener): Promise<Unsubscribe> {
    if (this.#closing) throw new Error('message bus is closed');
    await this.#connect();
    const set = this.#listeners.get(channel);
    if (set) {
      set.add(listener);
      // A previous subscriber may still be waiting for Redis to confirm the channel.
      await this.#pending.get(channel);
    } else {
      this.#listeners.set(channel, new Set([listener]));
      await this.#serialise(channel, () =>
        this.#subscriber.subscribe(
          this.#prefix + channel,
          (message: Buffer) => this.#deliver(channel, message),
          true,
        ),
      );
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const current = this.#listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size > 0) return;
      this.#listeners.delete(channel);
      if (this.#closing) return;
      await this.#serialise(channel, () => this.#subscriber.unsubscribe(this.#prefix + channel));
    };
  }

  async #serialise(channel: string, step: () => Promise<unknown>): Promise<void> {
    const previous = this.#pending.get(channel) ?? Promise.resolve();
    const next = previous.then(step).then(() => undefined);
    const settled = next.catch(() => undefined);
    this.#pending.set(channel, settled);
    try {
      await next;
    } finally {
      if (this.#pending.get(channel) === settled) this.#pending.delete(channel);
    }
  }

  #deliver(channel: string, message: Buffer): void {
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    for (const listener of listeners) {
      try {
        listener(bytes);
      } catch (error) {
        this.#logger.error({ err: error, channel }, 'redis message bus: listener failed');
      }
    }
  }

  async publish(channel: string, message: Uint8Array): Promise<void> {
    if (this.#closing) throw new Error('message bus is closed');
    await this.#publisher.publish(
      this.#prefix + channel,
      Buffer.from(message.buffer, message.byteOffset, message.byteLength),
    );
  }

  /** Closes the subscriber connection; the publishing client belongs to the caller. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listeners.clear();
      if (this.#subscriber.isOpen) {
        try {
          await this.#subscriber.close();
        } catch (error) {
          this.#logger.warn({ err: error }, 'redis message bus: closing the subscriber failed');
          this.#subscriber.destroy();
        }
      }
    })();
    return this.#closing;
  }
}
