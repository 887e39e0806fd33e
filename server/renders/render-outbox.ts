import type { JobQueue, RenderJobData } from '../../render-farm/index.ts';
import { isFinalJobStatus } from '../../shared/job-status.ts';
import type { OutboxHandler } from '../outbox/index.ts';
import type { DbRenderJobStore } from './render-job-store.ts';

/**
 * Carries out a `render.enqueue` outbox entry: puts the render on the queue under its own id
 * (a second add is a no-op, so the entry may run twice). The job is built from the row as it
 * is now; a render deleted or ended meanwhile (cancelled before dispatch) is not enqueued.
 */
export function enqueueRenderHandler(
  store: DbRenderJobStore,
  queue: JobQueue<RenderJobData>,
): OutboxHandler<'render.enqueue'> {
  return async ({ renderId }) => {
    const render = await store.get(renderId);
    if (!render || isFinalJobStatus(render.status)) return;
    await queue.add(
      { renderId, projectId: render.projectId, spec: render.spec },
      { jobId: renderId },
    );
  };
}
