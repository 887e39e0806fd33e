import type { JobQueue } from '../../render-farm/index.ts';
import type { ChatStore } from './chat-store.ts';
import type { CoachReplyJob } from './reply-job.ts';

/** One repair of the reply sweep (the shape of the reconciler's `Repair`). */
export interface ReplyRepair {
  kind: 'coach-reply';
  /** The reply's message id (its job's id). */
  id: string;
  /** `requeued`: its job was unknown and is queued again; `failed`: it can never run, ended. */
  action: 'requeued' | 'failed';
  detail?: string;
}

export interface ReplySweepOptions {
  chat: Pick<ChatStore, 'pendingHeads' | 'resetAttempt'>;
  queue: Pick<JobQueue<CoachReplyJob>, 'getJob' | 'add'>;
  /** Ends a pending reply as failed and queues its project's next reply (the coach's `abandon`). */
  abandon(job: CoachReplyJob, reason: string): Promise<boolean>;
}

/**
 * Puts every project's reply turn back on the queue where a crash took it off. Only the oldest
 * pending reply of a project (its head) has a job; for each head:
 * - the queue does not know its job (a crash between the accept's commit and the enqueue, or
 *   between a settle and queueing the next head; Redis lost its data; in embedded mode, any
 *   restart): queue it again (same job id, so racing an accept or another node's sweep adds it
 *   once);
 * - its job finished or went dead while the reply is still pending (its node died after the
 *   queue's verdict, before its own): end the reply as failed, which hands the turn on;
 * - otherwise (waiting, active, delayed) the queue has it: a silent holder's lease runs out
 *   and another node takes it over.
 * Safe on several nodes at once and after a crash half-way: every step is idempotent or
 * conditional on the reply still being pending. Run at start-up and periodically (the coach
 * does, every `sweepIntervalMs`); the reconciler may run it as one of its passes instead.
 */
export async function sweepPendingReplies(options: ReplySweepOptions): Promise<ReplyRepair[]> {
  const repairs: ReplyRepair[] = [];
  for (const head of await options.chat.pendingHeads()) {
    const job: CoachReplyJob = { replyId: head.replyId, projectId: head.projectId };
    const known = await options.queue.getJob(head.replyId);
    if (!known) {
      // The new job's deliveries count from 1 again: let them claim the reply.
      if (head.attempt !== null) await options.chat.resetAttempt(head.replyId);
      await options.queue.add(job, { jobId: head.replyId });
      repairs.push({ kind: 'coach-reply', id: head.replyId, action: 'requeued' });
    } else if (['completed', 'cancelled', 'dead'].includes(known.state)) {
      const reason = known.lastError ?? `its job is ${known.state}`;
      if (await options.abandon(job, reason)) {
        repairs.push({ kind: 'coach-reply', id: head.replyId, action: 'failed', detail: reason });
      }
    }
  }
  return repairs;
}
