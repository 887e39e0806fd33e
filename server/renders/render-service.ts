import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import {
  DEFAULT_RENDER_MEMORY_BUDGET_BYTES,
  describeBytes,
  estimateRenderMemory,
  type JobQueue,
  MAX_DECODED_BYTES_PER_PIXEL,
  type RenderJobData,
  type RoomEventPublisher,
} from '../../render-farm/index.ts';
import { MAX_IMAGE_DECODED_BYTES, MAX_IMAGE_PIXELS } from '../../shared/assets.ts';
import { isFinalJobStatus } from '../../shared/job-status.ts';
import {
  MAX_RENDER_SECONDS,
  MAX_SCENE_SECONDS,
  type RenderSpec,
  type RenderWire,
} from '../../shared/render-spec.ts';
import { crashPoint } from '../crash-points.ts';
import type { Db } from '../db/index.ts';
import { renderJobs } from '../db/schema/renders.ts';
import { badRequest } from '../errors.ts';
import { newestFirst, page } from '../pagination.ts';
import type { AssetRow } from './asset-service.ts';
import type { RenderCharges } from './render-charges.ts';
import { DbRenderJobStore, enqueueRender } from './render-job-store.ts';
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
  /** Where failed publishes are reported. */
  onError?: ((error: unknown, context: Record<string, unknown>) => void) | undefined;
  /**
   * Called after a submit committed its outbox entry: the node's dispatcher `kick()`, so the
   * job reaches the queue at once. Default: nothing (the dispatcher's sweep finds it).
   */
  onCommitted?: (() => void) | undefined;
  /**
   * Memory a render may need, in bytes (see `estimateRenderMemory`): a spec estimated above it
   * is a 400 naming `spec`, before anything is charged or queued. Default
   * `DEFAULT_RENDER_MEMORY_BUDGET_BYTES` (512 MiB), the renderer's default too.
   */
  memoryBudgetBytes?: number | undefined;
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
 * Submits, lists and cancels renders: the row (the source of truth), the charge and the
 * outbox entry in one transaction; the queue follows through the outbox. What the REST
 * routes call; workers never use it.
 */
export class RenderService {
  readonly store: DbRenderJobStore;
  private readonly db: Db;
  private readonly queue: JobQueue<RenderJobData>;
  private readonly publisher: RoomEventPublisher | undefined;
  private readonly charges: RenderCharges | undefined;
  private readonly findAssets: RenderServiceOptions['findAssets'];
  private readonly onError: NonNullable<RenderServiceOptions['onError']>;
  private readonly onCommitted: () => void;
  private readonly memoryBudgetBytes: number;

  constructor(options: RenderServiceOptions) {
    if (!options?.db) throw new TypeError('RenderService: db is required');
    if (!options.queue) throw new TypeError('RenderService: queue is required');
    this.db = options.db;
    this.queue = options.queue;
    this.publisher = options.publisher;
    this.charges = options.charges;
    this.findAssets = options.findAssets;
    this.onError = options.onError ?? ((error, context) => console.error(context, error));
    this.onCommitted = options.onCommitted ?? (() => {});
    this.memoryBudgetBytes = options.memoryBudgetBytes ?? DEFAULT_RENDER_MEMORY_BUDGET_BYTES;
    if (!(this.memoryBudgetBytes > 0)) {
      throw new TypeError('RenderService: memoryBudgetBytes must be positive');
    }
    this.store = new DbRenderJobStore({ db: options.db, charges: options.charges });
  }

  /**
   * Records a queued render, charges for it and asks for it to be enqueued, all in one
   * transaction: the row, the charge and the outbox entry commit together or not at all, and
   * the dispatcher puts the job on the queue after the commit (at once on this node, or on a
   * later sweep of any node if this one dies first). Submitting therefore never waits on Redis.
   * `created` is false for a repeated idempotency key. A refused charge (402) stores nothing.
   */
  async submit(input: SubmitRenderInput): Promise<{ render: RenderJobRow; created: boolean }> {
    const durationSec = await this.checkAssets(input.projectId, input.spec);
    const id = randomUUID();
    const now = new Date();
    const { render, created } = await this.db.transaction(async (tx) => {
      const inserted = await tx
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
      const first = inserted[0];
      if (!first) {
        const [existing] = await tx
          .select()
          .from(renderJobs)
          .where(
            and(
              eq(renderJobs.projectId, input.projectId),
              eq(renderJobs.idempotencyKey, input.idempotencyKey ?? ''),
            ),
          );
        if (!existing) throw new Error('render insert conflicted but no render was found');
        return { render: existing, created: false };
      }
      if (this.charges && input.createdBy) {
        await this.charges.chargeForRender(tx, {
          workspaceId: input.workspaceId,
          userId: input.createdBy,
          renderId: first.id,
          durationSec,
        });
      }
      await enqueueRender(tx, first.id);
      return { render: first, created: true };
    });
    if (!created) return { render, created };
    crashPoint('render.submit.after-commit');
    this.onCommitted();
    await this.publish(render.projectId, { renderId: render.id, status: 'queued', progress: 0 });
    return { render, created };
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
    this.checkMemory(spec, found);
    return total;
  }

  /**
   * Refuses a spec whose estimated memory is over the budget (a 400 naming `spec`). Images
   * count at their size with the worst bytes per pixel, up to what an upload may decode to.
   */
  private checkMemory(spec: RenderSpec, found: Map<string, AssetRow> | undefined): void {
    const images = new Map<string, { width: number; height: number; bytesPerPixel: number }>();
    for (const scene of spec.scenes) {
      if (scene.background.type !== 'image') continue;
      const asset = found?.get(scene.background.assetId);
      const pixels = (asset?.width ?? 0) * (asset?.height ?? 0) || MAX_IMAGE_PIXELS;
      const bytes = Math.min(pixels * MAX_DECODED_BYTES_PER_PIXEL, MAX_IMAGE_DECODED_BYTES);
      images.set(scene.background.assetId, {
        width: pixels,
        height: 1,
        bytesPerPixel: bytes / pixels,
      });
    }
    const audioInputs =
      spec.scenes.filter((scene) => scene.voiceoverAssetId).length + (spec.musicAssetId ? 1 : 0);
    const estimate = estimateRenderMemory(
      {
        width: spec.width,
        height: spec.height,
        scenes: spec.scenes.length,
        images: [...images.values()],
        audioInputs,
      },
      this.memoryBudgetBytes,
    );
    if (estimate.bytes > this.memoryBudgetBytes) {
      throw badRequest(
        `spec: the render needs an estimated ${describeBytes(estimate.bytes)} of memory, over the budget of ${describeBytes(this.memoryBudgetBytes)}`,
      );
    }
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
   * Requests a cancel. A running render is stopped by its worker (within a second), which
   * writes the final state and the refund. One no worker holds — waiting, backing off, or
   * unknown to the queue (lost in a Redis restart, dead-lettered, not yet dispatched from the
   * outbox) — is cancelled and refunded here. Returns the render as it is now.
   */
  async cancel(renderId: string): Promise<RenderJobRow | null> {
    const row = await this.store.get(renderId);
    if (!row || isFinalJobStatus(row.status)) return row;
    const result = await this.queue.cancel(renderId);
    if (result !== 'signalled' && (await this.store.cancelUnheld(row))) {
      await this.publish(row.projectId, { renderId, status: 'cancelled', progress: row.progress });
    }
    return this.store.get(renderId);
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
