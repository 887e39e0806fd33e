import type { JobQueue } from '../../render-farm/index.ts';
import type { OutboxHandler } from '../outbox/index.ts';
import { type PipelineStepJobData, type PipelineStore, stepJobId } from './pipeline-store.ts';

/**
 * Carries out a `pipeline.step` entry: puts the step's round on the pipeline queue under its
 * job id (a second add is a no-op). A step that moved on meanwhile (cancelled, another round)
 * is not enqueued.
 */
export function enqueuePipelineStepHandler(
  store: PipelineStore,
  queue: JobQueue<PipelineStepJobData>,
): OutboxHandler<'pipeline.step'> {
  return async ({ stepId, runId, round }) => {
    const step = await store.getStep(stepId);
    if (!step || step.round !== round || step.status !== 'queued') return;
    await queue.add({ stepId, runId, round }, { jobId: stepJobId(stepId, round) });
  };
}
