import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { JobQueue } from '../../render-farm/index.ts';
import { isFinalJobStatus } from '../../shared/job-status.ts';
import {
  type CreatePipelineRunBody,
  PIPELINE_STEPS,
  type PipelineStepName,
  type ProjectCosts,
} from '../../shared/pipeline.ts';
import { parseScript } from '../../shared/script-format.ts';
import type { Billing } from '../billing/index.ts';
import { appendEntry, lockWallet } from '../billing/ledger.ts';
import type { Db } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { badRequest, conflict, forbidden, notFound } from '../errors.ts';
import { newestFirst, page } from '../pagination.ts';
import {
  enqueueStepIn,
  type PipelineRunRow,
  type PipelineStepJobData,
  type PipelineStepRow,
  PipelineStore,
  stepChargeReference,
  stepJobId,
} from './pipeline-store.ts';

/** Chooses the operation a step's charge and refund go under (render: the render's own). */
export const STEP_OPERATIONS: Partial<
  Record<PipelineStepName, 'script' | 'voiceover' | 'publish'>
> = {
  script: 'script',
  voiceover: 'voiceover',
  publish: 'publish',
};

export interface PipelineServiceOptions {
  db: Db;
  queue: JobQueue<PipelineStepJobData>;
  billing: Billing;
  /** The live script's text (`realtime.getDocumentText('project/<id>/script')`). */
  readScript: (projectId: string) => Promise<string>;
  /** Publishes `pipeline:progress` (the room emitter). */
  publishProgress: (
    projectId: string,
    event: { runId: string; step: string; status: 'queued' | 'cancelled'; progress: number },
  ) => Promise<void> | void;
  /** After a commit that wrote outbox entries: the dispatcher's `kick()`. */
  onCommitted: () => void;
  /** Whether Stripe is configured; grants are refused then. */
  paymentsConfigured: boolean;
}

/**
 * Pipeline runs as the REST routes see them: create (rows and the first step's outbox entry in
 * one transaction), read, list, cancel, retry, costs; and credit grants without payments.
 * The steps themselves run in {@link PipelineStepWorker}.
 */
export class PipelineService {
  readonly store: PipelineStore;
  readonly #options: PipelineServiceOptions;

  constructor(options: PipelineServiceOptions) {
    if (!options?.db) throw new TypeError('PipelineService: db is required');
    this.#options = options;
    this.store = new PipelineStore(options.db);
  }

  /**
   * Starts a run: the run, its steps (queued) and the first step's outbox entry commit
   * together. Without `steps`: `script` when the script is empty, then voiceover, thumbnail,
   * render. A run that would draft into a non-empty script is a 400 naming `steps`.
   */
  async create(input: {
    projectId: string;
    workspaceId: string;
    userId: string;
    body: CreatePipelineRunBody;
  }): Promise<{ run: PipelineRunRow; steps: PipelineStepRow[]; created: boolean }> {
    const { body } = input;
    const script = await this.#options.readScript(input.projectId);
    const empty = parseScript(script).scenes.length === 0;
    const steps: PipelineStepName[] = body.steps ?? [
      ...(empty ? (['script'] as const) : []),
      'voiceover',
      'thumbnail',
      'render',
    ];
    if (steps.includes('script') && script.trim() !== '') {
      throw badRequest(
        'steps: the script step drafts into the script, which is not empty; leave script out of steps (or clear the script first)',
      );
    }
    if (
      !steps.includes('script') &&
      empty &&
      steps.some((s) => s === 'voiceover' || s === 'render')
    ) {
      throw badRequest('steps: the script has no scenes yet; add script to steps to draft one');
    }
    const now = new Date();
    const runId = randomUUID();
    const result = await this.#options.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(tables.pipelineRuns)
        .values({
          id: runId,
          projectId: input.projectId,
          workspaceId: input.workspaceId,
          createdBy: input.userId,
          steps,
          publish: body.publish ?? null,
          idempotencyKey: body.idempotencyKey ?? null,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing()
        .returning();
      const run = inserted[0];
      if (!run) {
        const [existing] = await tx
          .select()
          .from(tables.pipelineRuns)
          .where(
            and(
              eq(tables.pipelineRuns.projectId, input.projectId),
              eq(tables.pipelineRuns.idempotencyKey, body.idempotencyKey ?? ''),
            ),
          );
        if (!existing) throw new Error('pipeline run insert conflicted but no run was found');
        return { run: existing, steps: await this.store.stepsOf(existing.id, tx), created: false };
      }
      const rows = await tx
        .insert(tables.pipelineSteps)
        .values(
          steps.map((name) => ({
            id: randomUUID(),
            runId,
            name,
            position: PIPELINE_STEPS.indexOf(name),
            createdAt: now,
            updatedAt: now,
          })),
        )
        .returning();
      rows.sort((a, b) => a.position - b.position);
      await enqueueStepIn(tx, rows[0]!);
      return { run, steps: rows, created: true };
    });
    if (result.created) {
      this.#options.onCommitted();
      await this.#notify(result.run.projectId, {
        runId,
        step: result.steps[0]!.name,
        status: 'queued',
        progress: 0,
      });
    }
    return result;
  }

  async get(runId: string) {
    const run = await this.store.getRun(runId);
    if (!run) return null;
    return { run, steps: await this.store.stepsOf(runId) };
  }

  async list(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    const r = tables.pipelineRuns;
    const order = newestFirst(r.createdAt, r.id, query.cursor);
    const rows = await this.#options.db
      .select()
      .from(r)
      .where(and(eq(r.projectId, projectId), order.where))
      .orderBy(...order.orderBy)
      .limit(query.limit + 1);
    const result = page(rows, query.limit);
    const steps = await this.store.stepsOfRuns(result.items.map((run) => run.id));
    return {
      items: result.items.map((run) => ({ run, steps: steps.get(run.id) ?? [] })),
      nextCursor: result.nextCursor,
    };
  }

  /**
   * Cancels a run. Steps not started are cancelled here; the running step, when a worker
   * holds it, is stopped by its worker (which writes its cancelled state and refund together);
   * one no worker holds is cancelled and refunded here, in the same transaction as the run.
   */
  async cancel(runId: string) {
    const run = await this.store.getRun(runId);
    if (!run || isFinalJobStatus(run.status)) return this.get(runId);
    const steps = await this.store.stepsOf(runId);
    const signalled = new Set<string>();
    for (const step of steps) {
      if (step.status === 'running' || step.status === 'queued') {
        const result = await this.#options.queue.cancel(stepJobId(step.id, step.round));
        if (result === 'signalled') signalled.add(step.id);
      }
    }
    await this.#options.db.transaction(async (tx) => {
      for (const step of steps) {
        if (isFinalJobStatus(step.status) || signalled.has(step.id)) continue;
        const s = tables.pipelineSteps;
        const changed = await tx
          .update(s)
          .set({
            status: 'cancelled',
            error: { code: 'cancelled', message: 'the run was cancelled' },
            finishedAt: new Date(),
            updatedAt: new Date(),
          })
          .where(and(eq(s.id, step.id), eq(s.round, step.round), eq(s.status, step.status)))
          .returning({ id: s.id });
        const operation = STEP_OPERATIONS[step.name];
        if (changed.length > 0 && operation && step.credits > 0) {
          await this.#options.billing.service.refundByReferenceIn(tx, {
            operation,
            reference: stepChargeReference(step.id, step.round),
            reason: 'pipeline run cancelled',
          });
        }
      }
      await this.store.setRunStatus(tx, runId, 'cancelled', {
        error: { code: 'cancelled', message: 'the run was cancelled' },
        finishedAt: new Date(),
      });
    });
    await this.#notify(run.projectId, {
      runId,
      step: steps.find((step) => !isFinalJobStatus(step.status))?.name ?? steps[0]!.name,
      status: 'cancelled',
      progress: 0,
    });
    return this.get(runId);
  }

  /**
   * Resumes a failed or cancelled run from its first step that did not complete: that step
   * and the ones after it start a new round (new job ids, new charges); completed steps keep
   * their artifacts and are never run again. A run still going, or completed, is a 409.
   */
  async retry(runId: string) {
    const run = await this.store.getRun(runId);
    if (!run) return null;
    if (!isFinalJobStatus(run.status) || run.status === 'completed') {
      throw conflict(
        'conflict',
        `The run is ${run.status}; only a failed or cancelled run can be retried`,
      );
    }
    const steps = await this.store.stepsOf(runId);
    const from = steps.findIndex((step) => step.status !== 'completed');
    if (from < 0) throw conflict('conflict', 'Every step of the run completed');
    const first = await this.#options.db.transaction(async (tx) => {
      const s = tables.pipelineSteps;
      let firstRow: PipelineStepRow | undefined;
      for (const step of steps.slice(from)) {
        const [row] = await tx
          .update(s)
          .set({
            status: 'queued',
            round: step.round + 1,
            attempt: 0,
            progress: 0,
            error: null,
            costUsd: 0,
            credits: 0,
            artifacts: [],
            startedAt: null,
            finishedAt: null,
            updatedAt: new Date(),
          })
          .where(and(eq(s.id, step.id), eq(s.round, step.round)))
          .returning();
        firstRow ??= row;
      }
      const r = tables.pipelineRuns;
      await tx
        .update(r)
        .set({ status: 'queued', error: null, finishedAt: null, updatedAt: new Date() })
        .where(eq(r.id, runId));
      if (!firstRow) throw new Error('retry found no step to restart');
      await enqueueStepIn(tx, firstRow);
      return firstRow;
    });
    this.#options.onCommitted();
    await this.#notify(run.projectId, { runId, step: first.name, status: 'queued', progress: 0 });
    return this.get(runId);
  }

  /** `GET /projects/:id/costs`: every provider call of the project's runs, by step and member. */
  async costs(projectId: string): Promise<ProjectCosts> {
    const c = tables.pipelineCosts;
    const rows = await this.#options.db
      .select()
      .from(c)
      .where(eq(c.projectId, projectId))
      .orderBy(asc(c.createdAt), asc(c.id));
    const round = (usd: number) => Math.round(usd * 1e9) / 1e9;
    const byStep = new Map<PipelineStepName, { usd: number; calls: number }>();
    const byMember = new Map<string | null, { usd: number; calls: number }>();
    let total = 0;
    for (const row of rows) {
      total += row.usd;
      const step = byStep.get(row.step) ?? { usd: 0, calls: 0 };
      step.usd += row.usd;
      step.calls += 1;
      byStep.set(row.step, step);
      const member = byMember.get(row.userId) ?? { usd: 0, calls: 0 };
      member.usd += row.usd;
      member.calls += 1;
      byMember.set(row.userId, member);
    }
    return {
      totalUsd: round(total),
      byStep: [...byStep].map(([step, v]) => ({ step, usd: round(v.usd), calls: v.calls })),
      byMember: [...byMember].map(([userId, v]) => ({ userId, usd: round(v.usd), calls: v.calls })),
      entries: rows.map((row) => ({
        runId: row.runId,
        step: row.step,
        provider: row.provider,
        model: row.model,
        units: row.units,
        unit: row.unit,
        usd: row.usd,
        userId: row.userId,
        createdAt: row.createdAt.toISOString(),
      })),
    };
  }

  /**
   * Adds credits to a workspace by hand (owners), only while payments are not configured: a
   * newcomer on `npm start` can make videos. Recorded in the ledger as a `grant` with who and why.
   */
  async grantCredits(input: {
    workspaceId: string;
    userId: string;
    role: string;
    credits: number;
    reason: string;
  }) {
    if (this.#options.paymentsConfigured) {
      throw conflict(
        'payments_configured',
        'Credits come from purchases when payments are configured (STRIPE_SECRET_KEY is set); grants are off',
      );
    }
    if (input.role !== 'owner') throw forbidden('Only owners can grant credits');
    const now = new Date();
    const entry = await this.#options.db.transaction(async (tx) => {
      const wallet = await lockWallet(tx, input.workspaceId, now);
      if (!wallet) throw notFound('Workspace');
      return appendEntry(
        tx,
        wallet,
        {
          kind: 'grant',
          amount: input.credits,
          userId: input.userId,
          idempotencyKey: `grant:${randomUUID()}`,
          description: `Granted ${input.credits} credits: ${input.reason}`,
        },
        now,
      );
    });
    const { balance } = await this.#options.billing.service.balanceOf(input.workspaceId);
    return { entry, balance };
  }

  async #notify(
    projectId: string,
    event: { runId: string; step: string; status: 'queued' | 'cancelled'; progress: number },
  ) {
    try {
      await this.#options.publishProgress(projectId, event);
    } catch {
      // The state is in the database either way; a missed event is not worth a failed request.
    }
  }
}
