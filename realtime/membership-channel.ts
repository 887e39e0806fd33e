import { z } from 'zod';
import type { MembershipChange } from './access-check.ts';
import type { RealtimeLogger } from './logger.ts';
import type { MessageBus, Unsubscribe } from './message-bus.ts';

const CHANNEL = 'membership';

const membershipChange = z.object({
  workspaceId: z.string(),
  userId: z.string(),
  role: z.enum(['owner', 'editor', 'viewer']).nullable(),
});

const projectId = z.string().min(1).max(64);

/**
 * What travels on the channel. `kind` is optional on membership messages because nodes of the
 * previous release publish them without one; those nodes in turn drop (and log) the
 * project-deleted kind, which they cannot apply anyway.
 */
const channelMessage = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('membership').optional(),
    nodeId: z.string(),
    change: membershipChange,
  }),
  z.object({ kind: z.literal('project-deleted'), nodeId: z.string(), projectId }),
]);
type ChannelMessage = z.infer<typeof channelMessage>;

/** What a node does with the changes, its own and those other nodes publish. */
export interface MembershipChannelHandlers {
  /** A membership changed: removed members lose their connections, roles are updated. */
  applyMembershipChange(change: MembershipChange): void;
  /** A project was deleted: every connection to its documents and room is ended. */
  applyProjectDeleted(projectId: string): void;
}

/**
 * Carries changes of who may reach what to every node: membership changes and project
 * deletions. The node that learns of one (from the REST API) applies it locally at once and
 * publishes it; the others apply it when it arrives. Over Redis pub/sub this takes
 * milliseconds, well within the one second the contract allows. Both kinds share one channel
 * so that they arrive in the order they were published.
 */
export class MembershipChannel {
  readonly #bus: MessageBus;
  readonly #nodeId: string;
  readonly #handlers: MembershipChannelHandlers;
  readonly #logger: RealtimeLogger;
  #unsubscribe: Unsubscribe | null = null;

  constructor(options: {
    bus: MessageBus;
    nodeId: string;
    handlers: MembershipChannelHandlers;
    logger: RealtimeLogger;
  }) {
    this.#bus = options.bus;
    this.#nodeId = options.nodeId;
    this.#handlers = options.handlers;
    this.#logger = options.logger;
  }

  /** Starts listening; resolves once changes published by other nodes are received. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(CHANNEL, (bytes) => {
      let message: ChannelMessage;
      try {
        message = channelMessage.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
      } catch (error) {
        this.#logger.warn({ err: error }, 'realtime: undecodable membership message');
        return;
      }
      if (message.nodeId === this.#nodeId) return;
      try {
        this.#apply(message);
      } catch (error) {
        this.#logger.error({ err: error }, 'realtime: applying a membership message failed');
      }
    });
  }

  /** Applies a membership change here and publishes it to the other nodes. */
  async publish(change: MembershipChange): Promise<void> {
    await this.#publish({ kind: 'membership', nodeId: this.#nodeId, change });
  }

  /** Applies a project deletion here and publishes it to the other nodes. */
  async publishProjectDeleted(deletedProjectId: string): Promise<void> {
    await this.#publish({
      kind: 'project-deleted',
      nodeId: this.#nodeId,
      projectId: deletedProjectId,
    });
  }

  async #publish(message: ChannelMessage): Promise<void> {
    const checked = channelMessage.parse(message);
    this.#apply(checked);
    await this.#bus.publish(CHANNEL, Buffer.from(JSON.stringify(checked), 'utf8'));
  }

  #apply(message: ChannelMessage): void {
    if (message.kind === 'project-deleted') this.#handlers.applyProjectDeleted(message.projectId);
    else this.#handlers.applyMembershipChange(message.change);
  }

  async close(): Promise<void> {
    await this.#unsubscribe?.();
    this.#unsubscribe = null;
  }
}
