import { and, eq, inArray, lte, notInArray, sql } from 'drizzle-orm';
import type { RenderJobStore, RenderOutput } from '../../render-farm/index.ts';
import { FINAL_JOB_STATUSES, type JobStatus } from '../../shared/job-status.ts';
import type { Db, Tx } from '../db/index.ts';
import { renderJobs } from '../db/schema/renders.ts';
import { addToOutbox } from '../outbox/index.ts';
import type { RenderCharges } from './render-charges.ts';

export interface DbRenderJobStoreOptions {
  db: Db;
  /** Refunds a render in the transaction that makes it failed or cancelled. Default: none (free). */
  charges?: RenderCharges | undefined;
}

type RenderJobRow = typeof renderJobs.$inferSelect;
type RenderJobUpdate = Partial<typeof renderJobs.$inferInsert>;

/** What a render's row looked like when a caller decided to change it (compare-and-set). */
export interface ObservedRender {
  id: string;
  status: JobStatus;
  attempt: number;
}

/**
 * {@link RenderJobStore} over the `render_jobs` table. Every write is one fenced statement:
 *
 *   UPDATE render_jobs SET ..., attempt = $attempt
 *   WHERE id = $id AND attempt <= $attempt AND status NOT IN ('completed','failed','cancelled')
 *
 * so once attempt n has written, attempts before n cannot, and nothing changes a final job.
 * (`<=` rather than `=` lets an attempt's first write claim the row without a separate step.)
 * A final `failed` or `cancelled` state and its refund commit in one transaction: no crash
 * can separate them.
 */
export class DbRenderJobStore implements RenderJobStore {
  private readonly db: Db;
  private readonly charges: RenderCharges | undefined;

  constructor(options: DbRenderJobStoreOptions) {
    if (!options?.db) throw new TypeError('DbRenderJobStore: db is required');
    this.db = options.db;
    this.charges = options.charges;
  }

  private async write(
    db: Db | Tx,
    renderId: string,
    attempt: number,
    set: RenderJobUpdate,
  ): Promise<boolean> {
    const rows = await db
      .update(renderJobs)
      .set({ ...set, attempt, updatedAt: new Date() })
      .where(
        and(
          eq(renderJobs.id, renderId),
          lte(renderJobs.attempt, attempt),
          notInArray(renderJobs.status, [...FINAL_JOB_STATUSES]),
        ),
      )
      .returning({ id: renderJobs.id });
    return rows.length === 1;
  }

  /** A final state that gives the credits back: the state and the refund commit together. */
  private finalWithRefund(
    reason: 'failed' | 'cancelled',
    renderId: string,
    change: (tx: Tx) => Promise<boolean>,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const written = await change(tx);
      if (written) await this.charges?.refundRender(tx, { renderId, reason });
      return written;
    });
  }

  markRunning(renderId: string, attempt: number): Promise<boolean> {
    return this.write(this.db, renderId, attempt, {
      status: 'running',
      progress: 0,
      startedAt: new Date(),
    });
  }

  updateProgress(renderId: string, attempt: number, progress: number): Promise<boolean> {
    return this.write(this.db, renderId, attempt, {
      status: 'running',
      progress: Math.min(1, Math.max(0, progress)),
    });
  }

  markQueued(renderId: string, attempt: number, error?: string): Promise<boolean> {
    return this.write(this.db, renderId, attempt, {
      status: 'queued',
      progress: 0,
      ...(error !== undefined ? { error } : {}),
    });
  }

  markCompleted(renderId: string, attempt: number, output: RenderOutput): Promise<boolean> {
    return this.write(this.db, renderId, attempt, {
      status: 'completed',
      progress: 1,
      videoKey: output.videoKey,
      thumbnailKey: output.thumbnailKey,
      durationSec: output.durationSec,
      bytes: output.bytes,
      error: null,
      finishedAt: new Date(),
    });
  }

  markFailed(renderId: string, attempt: number, error: string): Promise<boolean> {
    return this.finalWithRefund('failed', renderId, (tx) =>
      this.write(tx, renderId, attempt, { status: 'failed', error, finishedAt: new Date() }),
    );
  }

  markCancelled(renderId: string, attempt: number): Promise<boolean> {
    return this.finalWithRefund('cancelled', renderId, (tx) =>
      this.write(tx, renderId, attempt, { status: 'cancelled', finishedAt: new Date() }),
    );
  }

  /**
   * Cancels a render no worker holds: queued, waiting out a retry's backoff, or one the queue
   * no longer knows (lost in a Redis restart, or dead-lettered before its row was updated).
   * The caller has established that no worker holds it; `observed` makes the write a
   * compare-and-set, so a worker that started it meanwhile wins. False when nothing changed.
   */
  cancelUnheld(observed: ObservedRender): Promise<boolean> {
    return this.finalWithRefund('cancelled', observed.id, (tx) =>
      this.compareAndSet(tx, observed, { status: 'cancelled', finishedAt: new Date() }),
    );
  }

  /**
   * Fails a render the queue cannot finish (dead-lettered, past its deadline) and refunds it,
   * if its row is still as `observed`.
   */
  failUnheld(observed: ObservedRender, error: string): Promise<boolean> {
    return this.finalWithRefund('failed', observed.id, (tx) =>
      this.compareAndSet(tx, observed, { status: 'failed', error, finishedAt: new Date() }),
    );
  }

  /**
   * Puts a render the queue lost back in line: the row returns to `queued` with attempt 0 (the
   * new job's deliveries start at 1 again, and the fence lets them write) and an outbox entry
   * enqueues it, in one transaction. False when the row moved meanwhile.
   */
  requeueLost(observed: ObservedRender, reason: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const changed = await this.compareAndSet(tx, observed, {
        status: 'queued',
        attempt: 0,
        progress: 0,
        error: reason,
      });
      if (changed) await enqueueRender(tx, observed.id);
      return changed;
    });
  }

  private async compareAndSet(
    tx: Tx,
    observed: ObservedRender,
    set: RenderJobUpdate,
  ): Promise<boolean> {
    const rows = await tx
      .update(renderJobs)
      .set({ ...set, updatedAt: new Date() })
      .where(
        and(
          eq(renderJobs.id, observed.id),
          eq(renderJobs.status, observed.status),
          eq(renderJobs.attempt, observed.attempt),
        ),
      )
      .returning({ id: renderJobs.id });
    return rows.length === 1;
  }

  /** The render's row, or null. */
  async get(renderId: string): Promise<RenderJobRow | null> {
    const [row] = await this.db.select().from(renderJobs).where(eq(renderJobs.id, renderId));
    return row ?? null;
  }

  /** Renders not in a final state, oldest first: what the reconciler looks at. */
  unfinished(limit: number, afterId?: string): Promise<RenderJobRow[]> {
    return this.db
      .select()
      .from(renderJobs)
      .where(
        and(
          inArray(renderJobs.status, ['queued', 'running']),
          afterId ? sql`${renderJobs.id} > ${afterId}` : undefined,
        ),
      )
      .orderBy(renderJobs.id)
      .limit(limit);
  }

  /** How many renders are in each status (tests, health). */
  async countByStatus(renderIds: string[]): Promise<Partial<Record<JobStatus, number>>> {
    if (renderIds.length === 0) return {};
    const rows = await this.db
      .select({ status: renderJobs.status, count: sql<number>`count(*)::int` })
      .from(renderJobs)
      .where(sql`${renderJobs.id} in ${renderIds}`)
      .groupBy(renderJobs.status);
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
  }
}

/** The outbox entry that puts a render on the queue once the transaction that wrote it commits. */
export function enqueueRender(tx: Tx, renderId: string): Promise<void> {
  return addToOutbox(tx, { topic: 'render.enqueue', key: renderId, payload: { renderId } });
}
