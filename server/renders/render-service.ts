import { randomUUID } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import type { JobQueue, RenderJobData, RoomEventPublisher } from '../../render-farm/index.ts';
import {
  MAX_RENDER_SECONDS,
  MAX_SCENE_SECONDS,
  type RenderSpec,
  type RenderWire,
} from '../../shared/render-spec.ts';
import type { Db } from '../db/index.ts';
import { renderJobs } from '../db/schema/renders.ts';
import { badRequest } from '../errors.ts';
import { newestFirst, page } from '../pagination.ts';
import type { AssetRow } from './asset-service.ts';
import type { RenderCharges } from './render-charges.ts';
import { DbRenderJobStore } from './render-job-store.ts';
import type { RenderLinks } from './render-links.ts';

export type RenderJobRow = typeof renderJobs.$inferSelect;

export interface RenderServiceOptions {
  db: Db;
  queue: JobQueue<RenderJobData>;
  /** Room events (`render:progress` for queued and cancelled). Default: none. */
  publisher?: RoomEventPublisher | undefined;
  /** Charged at submit, refunded when a render ends failed or cancelled. Default: free. */
  charges?: RenderCharges | undefined;
  /** Looks up the spec's assets of the project, to check them before anything is queued. */
  findAssets?: ((projectId: string, ids: string[]) => Promise<Map<string, AssetRow>>) | undefined;
  /** Where failed refunds and publishes are reported. */
  onError?: ((error: unknown, context: Record<string, unknown>) => void) | undefined;
}

export interface SubmitRenderInput {
  projectId: string;
  workspaceId: string;
  spec: RenderSpec;
  createdBy?: string;
  /** A second submit with the same key in the same project returns the first render. */
  idempotencyKey?: string | undefined;
}

/** The API's view of a render row; a completed one carries signed links to its files. */
export function toRenderWire(row: RenderJobRow, links: RenderLinks): RenderWire {
  const completed = row.status === 'completed';
  return {
    id: row.id,
    projectId: row.projectId,
    workspaceId: row.workspaceId,
    status: row.status,
    progress: row.progress,
    attempt: row.attempt,
    spec: row.spec as unknown as Record<string, unknown>,
    error: row.error,
    durationSec: row.durationSec,
    bytes: row.bytes,
    outputUrl: completed ? links.url(row.id, 'output') : null,
    thumbnailUrl: completed ? links.url(row.id, 'thumbnail') : null,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

/**
 * Submits, lists and cancels renders: the row first (the source of truth), then the charge,
 * then the queue. What the REST routes call; workers never use it.
 */
export class RenderService {
  readonly store: DbRenderJobStore;
  private readonly db: Db;
  private readonly queue: JobQueue<RenderJobData>;
  private readonly publisher: RoomEventPublisher | undefined;
  private readonly charges: RenderCharges | undefined;
  private readonly findAssets: RenderServiceOptions['findAssets'];
  private readonly onError: NonNullable<RenderServiceOptions['onError']>;

  constructor(options: RenderServiceOptions) {
    if (!options?.db) throw new TypeError('RenderService: db is required');
    if (!options.queue) throw new TypeError('RenderService: queue is required');
    this.db = options.db;
    this.queue = options.queue;
    this.publisher = options.publisher;
    this.charges = options.charges;
    this.findAssets = options.findAssets;
    this.onError = options.onError ?? ((error, context) => console.error(context, error));
    this.store = new DbRenderJobStore({
      db: options.db,
      charges: options.charges,
      onError: this.onError,
    });
  }

  /**
   * Records a queued render, charges for it and enqueues it; `created` is false for a repeated
   * idempotency key. A refused charge (402) deletes the row, so nothing is left to run.
   */
  async submit(input: SubmitRenderInput): Promise<{ render: RenderJobRow; created: boolean }> {
    const durationSec = await this.checkAssets(input.projectId, input.spec);
    const id = randomUUID();
    const now = new Date();
    const inserted = await this.db
      .insert(renderJobs)
      .values({
        id,
        projectId: input.projectId,
        workspaceId: input.workspaceId,
        spec: input.spec,
        createdAt: now,
        updatedAt: now,
        ...(input.createdBy ? { createdBy: input.createdBy } : {}),
        ...(input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {}),
      })
      .onConflictDoNothing()
      .returning();
    const created = inserted.length === 1;
    const render =
      inserted[0] ??
      (
        await this.db
          .select()
          .from(renderJobs)
          .where(
            and(
              eq(renderJobs.projectId, input.projectId),
              eq(renderJobs.idempotencyKey, input.idempotencyKey ?? ''),
            ),
          )
      )[0];
    if (!render) throw new Error('render insert conflicted but no render was found');
    if (!created) {
      // The first submit may have stopped between its row and the queue (a Redis outage):
      // enqueuing again is harmless (same job id), so a retry with the key heals it.
      if (render.status === 'queued') await this.enqueue(render);
      return { render, created };
    }

    if (this.charges && input.createdBy) {
      try {
        await this.charges.chargeForRender({
          workspaceId: input.workspaceId,
          userId: input.createdBy,
          renderId: render.id,
          durationSec,
        });
      } catch (error) {
        // Not queued yet, so deleting the row leaves nothing that could run.
        await this.db.delete(renderJobs).where(eq(renderJobs.id, render.id));
        throw error;
      }
    }
    await this.enqueue(render);
    await this.publish(render.projectId, {
      renderId: render.id,
      status: 'queued',
      progress: 0,
    });
    return { render, created };
  }

  private async enqueue(render: RenderJobRow): Promise<void> {
    // The job id is the render's id: enqueuing twice is harmless.
    await this.queue.add(
      { renderId: render.id, projectId: render.projectId, spec: render.spec },
      { jobId: render.id },
    );
  }

  /**
   * Checks the spec's assets against the project (exists, right kind) and returns the render's
   * length, with scenes timed by their voice-over. Each problem is a 400 naming the field.
   */
  private async checkAssets(projectId: string, spec: RenderSpec): Promise<number> {
    const wanted: Array<{ field: string; id: string; kind: 'image' | 'audio' }> = [];
    spec.scenes.forEach((scene, i) => {
      if (scene.background.type === 'image') {
        wanted.push({
          field: `spec.scenes.${i}.background.assetId`,
          id: scene.background.assetId,
          kind: 'image',
        });
      }
      if (scene.voiceoverAssetId) {
        wanted.push({
          field: `spec.scenes.${i}.voiceoverAssetId`,
          id: scene.voiceoverAssetId,
          kind: 'audio',
        });
      }
    });
    if (spec.musicAssetId) {
      wanted.push({ field: 'spec.musicAssetId', id: spec.musicAssetId, kind: 'audio' });
    }
    const found =
      this.findAssets && wanted.length > 0
        ? await this.findAssets(
            projectId,
            wanted.map((item) => item.id),
          )
        : undefined;
    if (found) {
      for (const item of wanted) {
        const asset = found.get(item.id);
        if (!asset) throw badRequest(`${item.field}: no asset ${item.id} in this project`);
        if (asset.kind !== item.kind) {
          throw badRequest(`${item.field}: asset ${item.id} is ${asset.kind}, not ${item.kind}`);
        }
      }
    }
    let total = 0;
    spec.scenes.forEach((scene, i) => {
      const voice = scene.voiceoverAssetId ? found?.get(scene.voiceoverAssetId) : undefined;
      const seconds = scene.durationSec ?? voice?.durationSec ?? undefined;
      if (seconds === undefined && found) {
        throw badRequest(`spec.scenes.${i}.durationSec: the voice-over's length is not known`);
      }
      if (seconds !== undefined && seconds > MAX_SCENE_SECONDS) {
        throw badRequest(
          `spec.scenes.${i}.voiceoverAssetId: the voice-over lasts ${seconds.toFixed(2)} s; a scene lasts at most ${MAX_SCENE_SECONDS} s`,
        );
      }
      total += seconds ?? 0;
    });
    if (total > MAX_RENDER_SECONDS) {
      throw badRequest(
        `spec.scenes: total duration must be at most ${MAX_RENDER_SECONDS} seconds (is ${total.toFixed(2)})`,
      );
    }
    return total;
  }

  async get(renderId: string): Promise<RenderJobRow | null> {
    return this.store.get(renderId);
  }

  async list(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    const order = newestFirst(renderJobs.createdAt, renderJobs.id, query.cursor);
    const rows = await this.db
      .select()
      .from(renderJobs)
      .where(and(eq(renderJobs.projectId, projectId), order.where))
      .orderBy(...order.orderBy)
      .limit(query.limit + 1);
    return page(rows, query.limit);
  }

  /**
   * Requests a cancel. A render nobody runs is cancelled here; a running one is stopped by its
   * worker (within a second), which writes the final state. Returns the render as it is now.
   */
  async cancel(renderId: string): Promise<RenderJobRow | null> {
    const result = await this.queue.cancel(renderId);
    if (result !== 'signalled' && (await this.store.cancelIfQueued(renderId))) {
      const row = await this.store.get(renderId);
      if (row) {
        await this.publish(row.projectId, {
          renderId,
          status: 'cancelled',
          progress: row.progress,
        });
      }
    }
    return this.store.get(renderId);
  }

  /**
   * Embedded mode only (the in-process queue forgets its jobs when the process stops): puts
   * every render that was queued or running back into the queue as a fresh job.
   */
  async requeueUnfinished(): Promise<number> {
    const rows = await this.db
      .update(renderJobs)
      .set({ status: 'queued', attempt: 0, progress: 0, updatedAt: new Date() })
      .where(inArray(renderJobs.status, ['queued', 'running']))
      .returning();
    for (const row of rows) await this.enqueue(row);
    return rows.length;
  }

  private async publish(
    projectId: string,
    event: { renderId: string; status: 'queued' | 'cancelled'; progress: number },
  ): Promise<void> {
    try {
      await this.publisher?.emit(projectId, 'render:progress', event);
    } catch (error) {
      // The status is in the database either way; a missed event is not worth a failed request.
      this.onError(error, { renderId: event.renderId, what: 'publishing render:progress' });
    }
  }
}
