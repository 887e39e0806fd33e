import type { JobQueue } from '../../render-farm/index.ts';
import { isFinalJobStatus } from '../../shared/job-status.ts';
import type { Billing } from '../billing/index.ts';
import { isPendingInOutbox } from '../outbox/index.ts';
import type { ReconcilePass, Repair } from '../reconciler/index.ts';
import { STEP_OPERATIONS } from './pipeline-service.ts';
import {
  enqueueStepIn,
  type PipelineStepJobData,
  type PipelineStepRow,
  type PipelineStore,
  stepChargeReference,
  stepJobId,
} from './pipeline-store.ts';

export interface PipelineReconcilePassOptions {
  store: PipelineStore;
  queue: JobQueue<PipelineStepJobData>;
  billing: Billing;
  /** A step unfinished this long after it was queued is failed and refunded. Default 6 h. */
  deadlineMs?: number;
  /** Rows changed more recently than this are left to their writer. Default 5000 ms. */
  graceMs?: number;
  /** After a repair wrote an outbox entry. */
  onCommitted?: () => void;
}

/**
 * Matches every queued or running step (of a run that is not final) against the pipeline
 * queue: unknown to the queue and not on its way through the outbox: queued again (a new
 * outbox entry; the charge key of the round stays, so it is never paid twice); dead-lettered,
 * or ended by the queue without a verdict, or past its deadline: failed with its refund and
 * the run failed, in one transaction. Every repair is fenced on the row as read.
 */
export function pipelineReconcilePass(options: PipelineReconcilePassOptions): ReconcilePass {
  const { store, queue, billing } = options;
  const deadlineMs = options.deadlineMs ?? 6 * 3600_000;
  const graceMs = options.graceMs ?? 5_000;
  return {
    name: 'pipeline',
    async run(now) {
      const repairs: Repair[] = [];
      let after: string | undefined;
      for (;;) {
        const rows = await store.unfinishedSteps(200, after);
        if (rows.length === 0) break;
        after = rows.at(-1)?.id;
        for (const step of rows) {
          if (now.getTime() - step.updatedAt.getTime() < graceMs) continue;
          const run = await store.getRun(step.runId);
          if (!run || isFinalJobStatus(run.status)) continue;
          // Steps after the current one wait for their turn; only the first unfinished one is live.
          const steps = await store.stepsOf(step.runId);
          const current = steps.find((other) => !isFinalJobStatus(other.status));
          if (current?.id !== step.id) continue;
          if (await isPendingInOutbox(store.db, 'pipeline.step', step.id)) continue;
          const repair = await reconcileOne(step, now);
          if (repair) repairs.push(repair);
        }
        if (rows.length < 200) break;
      }
      return repairs;
    },
  };

  async function fail(step: PipelineStepRow, code: string, message: string): Promise<boolean> {
    return store.db.transaction(async (tx) => {
      const written = await store.writeStep(tx, step, step.attempt, {
        status: 'failed',
        error: { code, message },
        credits: 0,
        finishedAt: new Date(),
      });
      if (!written) return false;
      const operation = STEP_OPERATIONS[step.name];
      if (operation && step.credits > 0) {
        await billing.service.refundByReferenceIn(tx, {
          operation,
          reference: stepChargeReference(step.id, step.round),
          reason: `pipeline step ${code}`,
        });
      }
      await store.setRunStatus(tx, step.runId, 'failed', {
        error: { code, message },
        finishedAt: new Date(),
      });
      await store.cancelStepsAfter(tx, step.runId, step.position);
      return true;
    });
  }

  async function reconcileOne(step: PipelineStepRow, now: Date): Promise<Repair | undefined> {
    const repair = (action: string, detail?: string): Repair => ({
      kind: 'pipeline-step',
      id: step.id,
      action,
      ...(detail ? { detail } : {}),
    });
    const jobId = stepJobId(step.id, step.round);
    if (now.getTime() - step.createdAt.getTime() > deadlineMs) {
      await queue.cancel(jobId);
      const message = `not finished within ${(deadlineMs / 3600_000).toFixed(1)} h`;
      return (await fail(step, 'deadline_exceeded', message))
        ? repair('failed-deadline', message)
        : undefined;
    }
    const job = await queue.getJob(jobId);
    if (!job) {
      const requeued = await store.db.transaction(async (tx) => {
        const ok = await store.writeStep(tx, step, step.attempt, { status: 'queued' });
        if (ok) await enqueueStepIn(tx, step);
        return ok;
      });
      if (requeued) options.onCommitted?.();
      return requeued ? repair('requeued', 'the queue lost this step job') : undefined;
    }
    if (job.state === 'dead' || job.state === 'completed' || job.state === 'cancelled') {
      const message = job.lastError ?? `the queue ended this step (${job.state}) without a verdict`;
      return (await fail(step, 'step_failed', message))
        ? repair('failed-dead', message)
        : undefined;
    }
    return undefined;
  }
}
