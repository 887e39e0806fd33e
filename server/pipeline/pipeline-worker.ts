import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { RoomEventPublisher } from '../../render-farm/index.ts';
import {
  errorMessage,
  isUnrecoverable,
  type JobLease,
  type JobQueue,
} from '../../render-farm/index.ts';
import { isFinalJobStatus, type JobStatus } from '../../shared/job-status.ts';
import type { PipelineArtifact, PipelineError, PipelineStepName } from '../../shared/pipeline.ts';
import type { Billing } from '../billing/index.ts';
import { startOfUtcDay } from '../coach/utc-day.ts';
import { tables } from '../db/index.ts';
import { DomainError } from '../errors.ts';
import { STEP_OPERATIONS } from './pipeline-service.ts';
import {
  estimateNarrationSec,
  estimateStepUsd,
  runStep,
  type StepDependencies,
  StepError,
} from './pipeline-steps.ts';
import {
  enqueueStepIn,
  type PipelineStepJobData,
  type PipelineStepRow,
  type PipelineStore,
  stepChargeReference,
  stepJobId,
} from './pipeline-store.ts';

export interface PipelineStepWorkerOptions {
  queue: JobQueue<PipelineStepJobData>;
  store: PipelineStore;
  billing: Billing;
  steps: StepDependencies;
  publisher: RoomEventPublisher;
  /** The project's title and topic. */
  project: (projectId: string) => Promise<{ title: string; topic: string } | null>;
  logger: Logger;
  /** VIDEO_SPEND_LIMIT_USD: provider spend of one run. Default 3.00. */
  videoSpendLimitUsd?: number;
  /** DAILY_SPEND_LIMIT_USD: a workspace's spend per UTC day, coach included. Default 150.00. */
  dailySpendLimitUsd?: number;
  /** Step jobs run at once. Default 2. */
  concurrency?: number;
  /** Heart-beat and progress interval. Default 1000 ms (SPEC: progress at least once a second). */
  tickMs?: number;
  /** After a commit that wrote outbox entries (the dispatcher's `kick()`). */
  onCommitted: () => void;
}

/**
 * Runs pipeline step jobs from the pipeline queue: take, charge and start (one transaction),
 * heart-beat and report progress every second, run the step, write the verdict (with the next
 * step's outbox entry, or the refund), then settle the lease. The verdict is always written
 * before the lease is settled, so a crash in between leaves a state the reconciler repairs.
 */
export class PipelineStepWorker {
  readonly consumer = `pipeline-${randomUUID()}`;
  readonly #o: ResolvedWorkerOptions;
  readonly #abort = new AbortController();
  #loops: Promise<void>[] = [];
  readonly #inFlight = new Set<AbortController>();
  #closing: Promise<void> | undefined;

  constructor(options: PipelineStepWorkerOptions) {
    this.#o = {
      videoSpendLimitUsd: 3,
      dailySpendLimitUsd: 150,
      concurrency: 2,
      tickMs: 1000,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as ResolvedWorkerOptions;
  }

  start(): void {
    for (let i = 0; i < this.#o.concurrency; i++) this.#loops.push(this.#loop());
  }

  async #loop(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      let lease: JobLease<PipelineStepJobData> | null = null;
      try {
        lease = await this.#o.queue.take(this.consumer, {
          blockMs: 1000,
          signal: this.#abort.signal,
        });
        if (lease) await this.#handle(lease);
      } catch (error) {
        if (this.#abort.signal.aborted) break;
        this.#o.logger.error({ err: error, jobId: lease?.jobId }, 'pipeline step job failed');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async #emit(
    projectId: string,
    runId: string,
    step: string,
    status: JobStatus,
    progress: number,
    message?: string,
  ) {
    try {
      await this.#o.publisher.emit(projectId, 'pipeline:progress', {
        runId,
        step,
        status,
        progress,
        ...(message ? { message } : {}),
      });
    } catch (error) {
      this.#o.logger.warn({ err: error, runId }, 'publishing pipeline:progress failed');
    }
  }

  async #handle(lease: JobLease<PipelineStepJobData>): Promise<void> {
    const { store, billing } = this.#o;
    const db = store.db;
    const { stepId, runId, round } = lease.data;
    const step = await store.getStep(stepId);
    const run = await store.getRun(runId);
    if (
      !step ||
      !run ||
      step.round !== round ||
      isFinalJobStatus(step.status) ||
      isFinalJobStatus(run.status)
    ) {
      await lease.complete();
      return;
    }
    const project = await this.#o.project(run.projectId);
    if (!project) {
      await lease.complete();
      return;
    }
    const fence = { id: step.id, round };
    const attempt = lease.attempt;
    const emit = (status: JobStatus, progress: number, message?: string) =>
      this.#emit(run.projectId, run.id, step.name, status, progress, message);

    // Before anything runs: the limits, then the charge and the start in one transaction.
    const script = await this.#o.steps.readScript(run.projectId);
    const estimate = estimateStepUsd(step.name, this.#o.steps, script);
    const daySpend =
      (await store.workspaceSpendSince(run.workspaceId, startOfUtcDay(new Date()))) +
      (await store.coachSpendSince(run.workspaceId, startOfUtcDay(new Date())));
    let refusal: PipelineError | undefined;
    if (run.costUsd + estimate > this.#o.videoSpendLimitUsd) {
      refusal = {
        code: 'spend_limit_reached',
        message: `the run's spend would pass VIDEO_SPEND_LIMIT_USD ($${this.#o.videoSpendLimitUsd.toFixed(2)}): spent $${run.costUsd.toFixed(4)}, this step ~$${estimate.toFixed(4)}`,
      };
    } else if (daySpend + estimate > this.#o.dailySpendLimitUsd) {
      refusal = {
        code: 'spend_limit_reached',
        message: `the workspace's spend today would pass DAILY_SPEND_LIMIT_USD ($${this.#o.dailySpendLimitUsd.toFixed(2)}): spent $${daySpend.toFixed(4)}, this step ~$${estimate.toFixed(4)}`,
      };
    }
    const operation = STEP_OPERATIONS[step.name];
    let credits = 0;
    if (!refusal) {
      try {
        await db.transaction(async (tx) => {
          if (operation && run.createdBy) {
            const charge = await billing.service.chargeIn(tx, {
              workspaceId: run.workspaceId,
              userId: run.createdBy,
              operation,
              ...(operation === 'voiceover' ? { durationSec: estimateNarrationSec(script) } : {}),
              reference: stepChargeReference(step.id, round),
              idempotencyKey: stepChargeReference(step.id, round),
              description: `Pipeline ${step.name} step`,
            });
            credits = -charge.transaction.amount;
          }
          const started = await store.writeStep(tx, fence, attempt, {
            status: 'running',
            startedAt: new Date(),
            progress: 0,
            credits,
          });
          if (!started) throw new FencedOut();
          await store.setRunStatus(tx, run.id, 'running');
        });
      } catch (error) {
        if (error instanceof FencedOut) {
          await lease.complete();
          return;
        }
        if (error instanceof DomainError && error.code === 'insufficient_credits') {
          refusal = { code: 'insufficient_credits', message: error.message };
        } else throw error;
      }
    }
    if (refusal) {
      // Nothing was charged (the charge rolled back with the start): no refund to give.
      await this.#finish(step, attempt, 'failed', refusal, []);
      await emit('failed', 0, refusal.message);
      await lease.complete();
      return;
    }
    await emit('running', 0, `${step.name} started`);

    // Running: heart-beat and progress once a second.
    const controller = new AbortController();
    this.#inFlight.add(controller);
    let progress = 0;
    let message: string | undefined;
    let lost = false;
    const ticker = setInterval(() => {
      void (async () => {
        const beat = await lease.heartbeat().catch(() => 'ok' as const);
        if (beat === 'cancelled') controller.abort('cancelled');
        if (beat === 'lost') {
          lost = true;
          controller.abort('lost');
        }
        await store.writeStep(db, fence, attempt, { progress }).catch(() => false);
        await emit('running', progress, message);
      })();
    }, this.#o.tickMs);
    ticker.unref();
    const onCancel = () => controller.abort('cancelled');
    lease.signal.addEventListener('abort', onCancel, { once: true });
    let artifacts: PipelineArtifact[] = [];
    let failure: unknown;
    try {
      const result = await runStep(
        step.name,
        {
          runId: run.id,
          stepId: step.id,
          projectId: run.projectId,
          workspaceId: run.workspaceId,
          userId: run.createdBy,
          project,
          previous: new Map<PipelineStepName, PipelineArtifact[]>(),
          signal: controller.signal,
          idempotencyKey: `pipeline:${step.id}:${round}`,
          publish: run.publish ?? null,
          progress: (value, text) => {
            progress = Math.max(progress, Math.min(1, Math.max(0, value)));
            message = text;
          },
          cost: async (entry) => {
            await db.insert(tables.pipelineCosts).values({
              id: randomUUID(),
              runId: run.id,
              stepId: step.id,
              projectId: run.projectId,
              workspaceId: run.workspaceId,
              step: step.name,
              userId: run.createdBy,
              createdAt: new Date(),
              ...entry,
            });
            await db
              .update(tables.pipelineSteps)
              .set({ costUsd: sql`${tables.pipelineSteps.costUsd} + ${entry.usd}` })
              .where(eq(tables.pipelineSteps.id, step.id));
            await store.addRunCost(db, run.id, entry.usd);
          },
        },
        this.#o.steps,
      );
      artifacts = result.artifacts;
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(ticker);
      lease.signal.removeEventListener('abort', onCancel);
      this.#inFlight.delete(controller);
    }
    if (lost) return; // Another worker holds it now; its writes win the fence.
    if (controller.signal.reason === 'shutdown') {
      // This node is stopping: the job goes back to the queue for another consumer at once.
      await lease.release();
      return;
    }

    if (failure === undefined) {
      await this.#finish(step, attempt, 'completed', null, artifacts);
      await emit('completed', 1, `${step.name} done`);
      await lease.complete();
      return;
    }
    const cancelled = controller.signal.aborted && controller.signal.reason === 'cancelled';
    if (cancelled) {
      await this.#finish(
        step,
        attempt,
        'cancelled',
        { code: 'cancelled', message: 'the run was cancelled' },
        [],
      );
      await emit('cancelled', progress);
      await lease.complete();
      return;
    }
    const retryable =
      !(failure instanceof StepError && !failure.retryable) &&
      !isUnrecoverable(failure) &&
      lease.willRetry(true);
    if (retryable) {
      // Back to queued for the next delivery; its charge key is the same, so it is not paid twice.
      await store.writeStep(db, fence, attempt, { status: 'queued', progress: 0 });
      await lease.fail(failure, { retry: true });
      return;
    }
    const error: PipelineError = {
      code: failure instanceof StepError ? failure.code : 'step_failed',
      message: errorMessage(failure),
      ...(failure instanceof StepError && failure.details ? { details: failure.details } : {}),
    };
    this.#o.logger.warn({ runId: run.id, step: step.name, error }, 'pipeline step failed');
    await this.#finish(step, attempt, 'failed', error, []);
    await emit('failed', progress, error.message);
    await lease.complete();
  }

  /**
   * The verdict, in one transaction: the step's final state; on success the next step's
   * outbox entry (or the run completed); on failure or cancel the refund, the run's final
   * state, and the later steps cancelled.
   */
  async #finish(
    step: PipelineStepRow,
    attempt: number,
    status: 'completed' | 'failed' | 'cancelled',
    error: PipelineError | null,
    artifacts: PipelineArtifact[],
  ): Promise<void> {
    const { store, billing } = this.#o;
    let enqueued = false;
    await store.db.transaction(async (tx) => {
      const fresh = await store.getStep(step.id, tx);
      const written = await store.writeStep(tx, { id: step.id, round: step.round }, attempt, {
        status,
        error,
        artifacts,
        progress: status === 'completed' ? 1 : (fresh?.progress ?? 0),
        finishedAt: new Date(),
        ...(status === 'completed' ? {} : { credits: 0 }),
      });
      if (!written) return;
      const operation = STEP_OPERATIONS[step.name];
      if (status !== 'completed' && operation && (fresh?.credits ?? 0) > 0) {
        await billing.service.refundByReferenceIn(tx, {
          operation,
          reference: stepChargeReference(step.id, step.round),
          reason:
            status === 'cancelled'
              ? 'pipeline step cancelled'
              : `pipeline step failed: ${error?.code}`,
        });
      }
      if (status !== 'completed') {
        await store.setRunStatus(tx, step.runId, status, { error, finishedAt: new Date() });
        await store.cancelStepsAfter(tx, step.runId, step.position);
        return;
      }
      const run = await store.getRun(step.runId, tx);
      const next = (await store.stepsOf(step.runId, tx)).find(
        (other) => other.position > step.position && other.status === 'queued',
      );
      if (run && !isFinalJobStatus(run.status) && next) {
        await enqueueStepIn(tx, next);
        enqueued = true;
      } else {
        await store.setRunStatus(tx, step.runId, 'completed', { finishedAt: new Date() });
      }
    });
    if (enqueued) this.#o.onCommitted();
  }

  /** Stops taking jobs; a step in flight keeps its lease until it is taken over. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort();
      for (const controller of this.#inFlight) controller.abort('shutdown');
      await Promise.allSettled(this.#loops);
    })();
    return this.#closing;
  }
}

class FencedOut extends Error {}

type ResolvedWorkerOptions = Required<Omit<PipelineStepWorkerOptions, 'steps'>> & {
  steps: StepDependencies;
};

export { stepJobId };
