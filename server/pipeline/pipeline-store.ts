import { and, asc, eq, gt, gte, inArray, lte, sql } from 'drizzle-orm';
import { FINAL_JOB_STATUSES, type JobStatus } from '../../shared/job-status.ts';
import type {
  PipelineArtifact,
  PipelineError,
  PipelineRun,
  PipelineStepName,
} from '../../shared/pipeline.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { addToOutbox } from '../outbox/index.ts';

export type PipelineRunRow = typeof tables.pipelineRuns.$inferSelect;
export type PipelineStepRow = typeof tables.pipelineSteps.$inferSelect;

/** A step job on the `<prefix>:pipeline` queue: which step, in which round. */
export interface PipelineStepJobData {
  stepId: string;
  runId: string;
  round: number;
}

/** The queue's job id of a step's round: a retry is a new job, never the dead one again. */
export const stepJobId = (stepId: string, round: number) => `${stepId}.${round}`;

/** What a step's credits are charged under (the ledger's `reference`), per round. */
export const stepChargeReference = (stepId: string, round: number) =>
  `pipeline-step:${stepId}:${round}`;

const notFinal = (column: typeof tables.pipelineSteps.status | typeof tables.pipelineRuns.status) =>
  sql`${column} not in (${sql.join(
    FINAL_JOB_STATUSES.map((status) => sql`${status}`),
    sql`, `,
  )})`;

/** Puts a step's job on its way to the queue, in the caller's transaction (the outbox). */
export function enqueueStepIn(tx: Tx, step: Pick<PipelineStepRow, 'id' | 'runId' | 'round'>) {
  return addToOutbox(tx, {
    topic: 'pipeline.step',
    key: step.id,
    payload: { stepId: step.id, runId: step.runId, round: step.round },
  });
}

/**
 * The rows of runs and steps. Every worker write to a step is one fenced statement:
 *
 *   UPDATE pipeline_steps SET ..., attempt = $attempt
 *   WHERE id = $id AND round = $round AND attempt <= $attempt AND status not final
 *
 * so a worker of an older round or an earlier delivery (taken over) never writes, and a final
 * step never changes; a retry starts a new round.
 */
export class PipelineStore {
  constructor(readonly db: Db) {}

  async getRun(runId: string, db: Db | Tx = this.db): Promise<PipelineRunRow | null> {
    const [row] = await db
      .select()
      .from(tables.pipelineRuns)
      .where(eq(tables.pipelineRuns.id, runId));
    return row ?? null;
  }

  async getStep(stepId: string, db: Db | Tx = this.db): Promise<PipelineStepRow | null> {
    const [row] = await db
      .select()
      .from(tables.pipelineSteps)
      .where(eq(tables.pipelineSteps.id, stepId));
    return row ?? null;
  }

  async stepsOf(runId: string, db: Db | Tx = this.db): Promise<PipelineStepRow[]> {
    return db
      .select()
      .from(tables.pipelineSteps)
      .where(eq(tables.pipelineSteps.runId, runId))
      .orderBy(asc(tables.pipelineSteps.position));
  }

  async stepsOfRuns(runIds: string[]): Promise<Map<string, PipelineStepRow[]>> {
    const result = new Map<string, PipelineStepRow[]>(runIds.map((id) => [id, []]));
    if (runIds.length === 0) return result;
    const rows = await this.db
      .select()
      .from(tables.pipelineSteps)
      .where(inArray(tables.pipelineSteps.runId, runIds))
      .orderBy(asc(tables.pipelineSteps.position));
    for (const row of rows) result.get(row.runId)?.push(row);
    return result;
  }

  /** One fenced write of a step (see the class comment); true when it applied. */
  async writeStep(
    db: Db | Tx,
    step: { id: string; round: number },
    attempt: number,
    set: Partial<typeof tables.pipelineSteps.$inferInsert>,
  ): Promise<boolean> {
    const s = tables.pipelineSteps;
    const rows = await db
      .update(s)
      .set({ ...set, attempt, updatedAt: new Date() })
      .where(
        and(
          eq(s.id, step.id),
          eq(s.round, step.round),
          lte(s.attempt, attempt),
          notFinal(s.status),
        ),
      )
      .returning({ id: s.id });
    return rows.length > 0;
  }

  /** Sets a run's status unless it is final already; true when it applied. */
  async setRunStatus(
    db: Db | Tx,
    runId: string,
    status: JobStatus,
    extra: { error?: PipelineError | null; finishedAt?: Date | null } = {},
  ): Promise<boolean> {
    const r = tables.pipelineRuns;
    const rows = await db
      .update(r)
      .set({ status, ...extra, updatedAt: new Date() })
      .where(and(eq(r.id, runId), notFinal(r.status)))
      .returning({ id: r.id });
    return rows.length > 0;
  }

  /** Cancels the run's steps after `position` that have not started (nothing after a failure runs). */
  async cancelStepsAfter(db: Db | Tx, runId: string, position: number): Promise<void> {
    const s = tables.pipelineSteps;
    await db
      .update(s)
      .set({ status: 'cancelled', finishedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(s.runId, runId), gt(s.position, position), notFinal(s.status)));
  }

  async addRunCost(db: Db | Tx, runId: string, usd: number): Promise<void> {
    if (usd === 0) return;
    const r = tables.pipelineRuns;
    await db
      .update(r)
      .set({ costUsd: sql`${r.costUsd} + ${usd}` })
      .where(eq(r.id, runId));
  }

  /** Steps not in a final state, oldest first, for the reconciler (keyset by id). */
  async unfinishedSteps(limit: number, after?: string): Promise<PipelineStepRow[]> {
    const s = tables.pipelineSteps;
    return this.db
      .select()
      .from(s)
      .where(and(notFinal(s.status), after ? gt(s.id, after) : undefined))
      .orderBy(asc(s.id))
      .limit(limit);
  }

  /** The USD a workspace's pipeline steps spent since `from`. */
  async workspaceSpendSince(workspaceId: string, from: Date): Promise<number> {
    const c = tables.pipelineCosts;
    const [row] = await this.db
      .select({ usd: sql<number>`coalesce(sum(${c.usd}), 0)::float8` })
      .from(c)
      .where(and(eq(c.workspaceId, workspaceId), gte(c.createdAt, from)));
    return Number(row?.usd ?? 0);
  }

  /** The coach's USD of a workspace since `from` (its replies' costs). */
  async coachSpendSince(workspaceId: string, from: Date): Promise<number> {
    const m = tables.chatMessages;
    const [row] = await this.db
      .select({ usd: sql<number>`coalesce(sum(${m.costUsd}), 0)::float8` })
      .from(m)
      .where(and(eq(m.workspaceId, workspaceId), gte(m.createdAt, from)));
    return Number(row?.usd ?? 0);
  }
}

/** The API's view of a run and its steps. */
export function toRunWire(run: PipelineRunRow, steps: PipelineStepRow[]): PipelineRun {
  return {
    id: run.id,
    projectId: run.projectId,
    workspaceId: run.workspaceId,
    status: run.status,
    steps: steps.map((step) => ({
      name: step.name,
      status: step.status,
      progress: step.progress,
      error: step.error ?? null,
      costUsd: step.costUsd,
      credits: step.credits,
      artifacts: step.artifacts.map(withUrl),
      attempt: step.attempt,
      startedAt: step.startedAt?.toISOString() ?? null,
      finishedAt: step.finishedAt?.toISOString() ?? null,
    })),
    publish: run.publish ?? null,
    error: run.error ?? null,
    costUsd: Math.round(run.costUsd * 1e9) / 1e9,
    credits: steps.reduce((sum, step) => sum + step.credits, 0),
    createdBy: run.createdBy,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

function withUrl(artifact: PipelineArtifact): PipelineArtifact {
  if (artifact.url || !artifact.assetId) return artifact;
  return { ...artifact, url: `/api/v1/assets/${artifact.assetId}/content` };
}

export type { PipelineStepName };
