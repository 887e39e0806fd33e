import { type JobQueue, MemoryJobQueue, type RenderJobData } from '../../render-farm/index.ts';
import type { Db } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { OutboxDispatcher } from '../../server/outbox/index.ts';
import {
  enqueueRenderHandler,
  type RenderCharges,
  RenderService,
} from '../../server/renders/index.ts';

export interface ComposedRenders {
  queue: JobQueue<RenderJobData>;
  service: RenderService;
  /** Resolves once every outbox entry committed so far has been carried to the queue. */
  dispatched(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The render side of an API node, as `server/runtime.ts` composes it: submits commit their
 * outbox entry and an outbox dispatcher carries it to the queue. Tests that play the API node
 * use this instead of a node when they want the queue in their hands.
 */
export function composeRenders(options: {
  db: Db;
  queue?: JobQueue<RenderJobData>;
  charges?: RenderCharges;
  /** The dispatcher's handler timeout (an unreachable Redis). Default: the dispatcher's. */
  handlerTimeoutMs?: number;
}): ComposedRenders {
  const queue = options.queue ?? new MemoryJobQueue<RenderJobData>();
  let outbox: OutboxDispatcher | undefined;
  const service = new RenderService({
    db: options.db,
    queue,
    charges: options.charges,
    onCommitted: () => outbox?.kick(),
  });
  const dispatcher = new OutboxDispatcher({
    db: options.db,
    logger: createLogger('silent'),
    handlers: { 'render.enqueue': enqueueRenderHandler(service.store, queue) },
    sweepIntervalMs: 200,
    ...(options.handlerTimeoutMs ? { handlerTimeoutMs: options.handlerTimeoutMs } : {}),
  });
  outbox = dispatcher;
  dispatcher.start();
  return {
    queue,
    service,
    dispatched: () => dispatcher.flush(),
    close: () => dispatcher.close(),
  };
}
