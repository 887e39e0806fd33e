import { and, eq, lte, notInArray, sql } from 'drizzle-orm';
import type { RenderJobStore, RenderOutput } from '../../render-farm/index.ts';
import { FINAL_JOB_STATUSES, type JobStatus } from '../../shared/job-status.ts';
import type { Db } from '../db/index.ts';
import { renderJobs } from '../db/schema/renders.ts';
import type { RenderCharges } from './render-charges.ts';

export interface DbRenderJobStoreOptions {
  db: Db;
  /** Refunds a render once it is committed as failed or cancelled. Default: none (free). */
  charges?: RenderCharges | undefined;
  /** Where a failed refund is reported (the final state stands). Default: stderr. */
  onError?: ((error: unknown, context: Record<string, unknown>) => void) | undefined;
}

type RenderJobUpdate = Partial<typeof renderJobs.$inferInsert>;

/**
 * {@link RenderJobStore} over the `render_jobs` table. Every write is one fenced statement:
 *
 *   UPDATE render_jobs SET ..., attempt = $attempt
 *   WHERE id = $id AND attempt <= $attempt AND status NOT IN ('completed','failed','cancelled')
 *
 * so once attempt n has written, attempts before n cannot, and nothing changes a final job.
 * (`<=` rather than `=` lets an attempt's first write claim the row without a separate step.)
 */
export class DbRenderJobStore implements RenderJobStore {
  private readonly db: Db;
  private readonly charges: RenderCharges | undefined;
  private readonly onError: NonNullable<DbRenderJobStoreOptions['onError']>;

  constructor(options: DbRenderJobStoreOptions) {
    if (!options?.db) throw new TypeError('DbRenderJobStore: db is required');
    this.db = options.db;
    this.charges = options.charges;
    this.onError = options.onError ?? ((error, context) => console.error(context, error));
  }

  /**
   * Gives the charge back after the final `failed`/`cancelled` state is committed. Exactly one
   * writer commits a final state (the fence), and the refund is idempotent besides.
   */
  private async refund(renderId: string, reason: 'failed' | 'cancelled'): Promise<void> {
    if (!this.charges) return;
    try {
      await this.charges.refundRender({ renderId, reason });
    } catch (error) {
      this.onError(error, { renderId, reason, what: 'refunding a render' });
    }
  }

  private async write(renderId: string, attempt: number, set: RenderJobUpdate): Promise<boolean> {
    const rows = await this.db
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

  markRunning(renderId: string, attempt: number): Promise<boolean> {
    return this.write(renderId, attempt, {
      status: 'running',
      progress: 0,
      startedAt: new Date(),
    });
  }

  updateProgress(renderId: string, attempt: number, progress: number): Promise<boolean> {
    return this.write(renderId, attempt, {
      status: 'running',
      progress: Math.min(1, Math.max(0, progress)),
    });
  }

  markQueued(renderId: string, attempt: number, error?: string): Promise<boolean> {
    return this.write(renderId, attempt, {
      status: 'queued',
      progress: 0,
      ...(error !== undefined ? { error } : {}),
    });
  }

  markCompleted(renderId: string, attempt: number, output: RenderOutput): Promise<boolean> {
    return this.write(renderId, attempt, {
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

  async markFailed(renderId: string, attempt: number, error: string): Promise<boolean> {
    const written = await this.write(renderId, attempt, {
      status: 'failed',
      error,
      finishedAt: new Date(),
    });
    if (written) await this.refund(renderId, 'failed');
    return written;
  }

  async markCancelled(renderId: string, attempt: number): Promise<boolean> {
    const written = await this.write(renderId, attempt, {
      status: 'cancelled',
      finishedAt: new Date(),
    });
    if (written) await this.refund(renderId, 'cancelled');
    return written;
  }

  /**
   * Cancels a render nobody is running (queued, or waiting out a retry's backoff). False when a
   * worker holds it (the worker writes the final state) or it is final already.
   */
  async cancelIfQueued(renderId: string): Promise<boolean> {
    const rows = await this.db
      .update(renderJobs)
      .set({ status: 'cancelled', updatedAt: new Date(), finishedAt: new Date() })
      .where(and(eq(renderJobs.id, renderId), eq(renderJobs.status, 'queued')))
      .returning({ id: renderJobs.id });
    if (rows.length === 1) await this.refund(renderId, 'cancelled');
    return rows.length === 1;
  }

  /** The render's row, or null. */
  async get(renderId: string): Promise<typeof renderJobs.$inferSelect | null> {
    const [row] = await this.db.select().from(renderJobs).where(eq(renderJobs.id, renderId));
    return row ?? null;
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
