import { z } from 'zod';
import type { MembershipChange } from './access-check.ts';
import type { RealtimeLogger } from './logger.ts';
import type { MessageBus, Unsubscribe } from './message-bus.ts';

const CHANNEL = 'membership';

const membershipMessage = z.object({
  nodeId: z.string(),
  change: z.object({
    workspaceId: z.string(),
    userId: z.string(),
    role: z.enum(['owner', 'editor', 'viewer']).nullable(),
  }),
});

/**
 * Carries membership changes to every node: the node that learns of one (from the REST API)
 * applies it locally at once and publishes it; the others apply it when it arrives. Over Redis
 * pub/sub this takes milliseconds, well within the one second the contract allows.
 */
export class MembershipChannel {
  readonly #bus: MessageBus;
  readonly #nodeId: string;
  readonly #apply: (change: MembershipChange) => void;
  readonly #logger: RealtimeLogger;
  #unsubscribe: Unsubscribe | null = null;

  constructor(options: {
    bus: MessageBus;
    nodeId: string;
    apply: (change: MembershipChange) => void;
    logger: RealtimeLogger;
  }) {
    this.#bus = options.bus;
    this.#nodeId = options.nodeId;
    this.#apply = options.apply;
    this.#logger = options.logger;
  }

  /** Starts listening; resolves once changes published by other nodes are received. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(CHANNEL, (bytes) => {
      try {
        const message = membershipMessage.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
        if (message.nodeId !== this.#nodeId) this.#apply(message.change);
      } catch (error) {
        this.#logger.warn({ err: error }, 'realtime: undecodable membership message');
      }
    });
  }

  /** Applies a change here and publishes it to the other nodes. */
  async publish(change: MembershipChange): Promise<void> {
    const checked = membershipMessage.shape.change.parse(change);
    this.#apply(checked);
    const message = { nodeId: this.#nodeId, change: checked };
    await this.#bus.publish(CHANNEL, Buffer.from(JSON.stringify(message), 'utf8'));
  }

  async close(): Promise<void> {
    await this.#unsubscribe?.();
    this.#unsubscribe = null;
  }
}
