import type { JobQueue, RenderJobData } from '../../render-farm/index.ts';
import { crashPoint } from '../crash-points.ts';
import type { Db } from '../db/index.ts';
import { isPendingInOutbox } from '../outbox/index.ts';
import type { ReconcilePass, Repair } from '../reconciler/index.ts';
import type { DbRenderJobStore } from './render-job-store.ts';

export interface RenderReconcilePassOptions {
  db: Db;
  store: DbRenderJobStore;
  queue: JobQueue<RenderJobData>;
  /**
   * A render unfinished this long after its submit is failed and refunded, whatever the queue
   * says (JOB_DEADLINE_HOURS; default 6 h): credits are never held by a job nobody finishes.
   */
  deadlineMs?: number;
  /**
   * Rows changed more recently than this are left alone for now. Default 5000 ms: room for a
   * transition in flight on another node; the checks below are safe without it.
   */
  graceMs?: number;
  /** Rows read per page. Default 200. */
  pageSize?: number;
}

/**
 * Matches every queued or running render against the queue:
 * - the queue does not know it (Redis restarted without persistence, the in-process queue
 *   of a restarted embedded node) and no outbox entry is on its way: back to `queued`,
 *   attempt 0, with a new outbox entry;
 * - dead-lettered: `failed` with the queue's last error, refunded;
 * - the queue ended it (cancelled, completed) while the row did not follow: `cancelled` or
 *   `failed`, refunded;
 * - past its deadline: the queue's job is cancelled, the row `failed`, refunded.
 * Each repair is a compare-and-set on the row as read, so a worker's write meanwhile wins.
 */
export function renderReconcilePass(options: RenderReconcilePassOptions): ReconcilePass {
  const { db, store, queue } = options;
  const deadlineMs = options.deadlineMs ?? 6 * 3600_000;
  const graceMs = options.graceMs ?? 5_000;
  const pageSize = options.pageSize ?? 200;
  return {
    name: 'renders',
    async run(now) {
      const repairs: Repair[] = [];
      let after: string | undefined;
      for (;;) {
        const rows = await store.unfinished(pageSize, after);
        if (rows.length === 0) break;
        after = rows.at(-1)?.id;
        for (const row of rows) {
          if (now.getTime() - row.updatedAt.getTime() < graceMs) continue;
          // Checked before the queue: the dispatcher adds the job, then removes the entry.
          if (await isPendingInOutbox(db, 'render.enqueue', row.id)) continue;
          const repair = await reconcileOne(row, now);
          if (repair) {
            repairs.push(repair);
            crashPoint('reconciler.after-repair');
          }
        }
        if (rows.length < pageSize) break;
      }
      return repairs;
    },
  };

  async function reconcileOne(
    row: NonNullable<Awaited<ReturnType<DbRenderJobStore['get']>>>,
    now: Date,
  ): Promise<Repair | undefined> {
    const repair = (action: string, detail?: string): Repair => ({
      kind: 'render',
      id: row.id,
      action,
      ...(detail ? { detail } : {}),
    });
    if (now.getTime() - row.createdAt.getTime() > deadlineMs) {
      // Stops a worker that still holds it; the row's final state fences that worker out.
      await queue.cancel(row.id);
      const hours = (deadlineMs / 3600_000).toFixed(1);
      const error = `deadline exceeded: not finished within ${hours} h of its submit`;
      return (await store.failUnheld(row, error)) ? repair('failed-deadline', error) : undefined;
    }
    const job = await queue.getJob(row.id);
    if (!job) {
      const reason = 'the queue lost this job (was Redis restarted?); queued again';
      return (await store.requeueLost(row, reason)) ? repair('requeued', reason) : undefined;
    }
    switch (job.state) {
      case 'dead': {
        const error = job.lastError ?? 'failed on every attempt';
        return (await store.failUnheld(row, error)) ? repair('failed-dead', error) : undefined;
      }
      case 'cancelled':
        return (await store.cancelUnheld(row)) ? repair('cancelled') : undefined;
      case 'completed': {
        const error = 'the queue finished this job without a stored result';
        return (await store.failUnheld(row, error)) ? repair('failed-orphan', error) : undefined;
      }
      default:
        return undefined;
    }
  }
}
