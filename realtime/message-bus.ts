import { EventEmitter } from 'node:events';

/** Receives one message published on a channel this node subscribed to. */
export type BusListener = (message: Uint8Array) => void;

/** Stops a subscription; safe to call twice. */
export type Unsubscribe = () => Promise<void>;

export interface MessageBusEvents {
  /**
   * Messages may have been lost (the connection to Redis dropped and came back). Subscribers
   * should reconcile from the durable store; Yjs updates are idempotent, so re-applying is safe.
   */
  resync: [];
}

/**
 * Fan-out of binary messages between the nodes of a cluster (or within one process). Every
 * subscriber of a channel receives every message published on it after its subscription became
 * active, including the publisher itself; receivers tell their own messages apart.
 */
export interface MessageBus extends EventEmitter<MessageBusEvents> {
  /** Resolves once the subscription is active: nothing published after that is missed. */
  subscribe(channel: string, listener: BusListener): Promise<Unsubscribe>;
  publish(channel: string, message: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** The in-process bus: one node, no Redis. Delivery is asynchronous, as it is over Redis. */
export class LocalMessageBus extends EventEmitter<MessageBusEvents> implements MessageBus {
  readonly #listeners = new Map<string, Set<BusListener>>();
  #closed = false;

  async subscribe(channel: string, listener: BusListener): Promise<Unsubscribe> {
    if (this.#closed) throw new Error('message bus is closed');
    let set = this.#listeners.get(channel);
    if (!set) {
      set = new Set();
      this.#listeners.set(channel, set);
    }
    set.add(listener);
    return async () => {
      const current = this.#listeners.get(channel);
      current?.delete(listener);
      if (current?.size === 0) this.#listeners.delete(channel);
    };
  }

  async publish(channel: string, message: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error('message bus is closed');
    const listeners = [...(this.#listeners.get(channel) ?? [])];
    // Deliver on a later tick so publishers never re-enter their own handlers synchronously.
    queueMicrotask(() => {
      for (const listener of listeners) listener(message);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }
}
