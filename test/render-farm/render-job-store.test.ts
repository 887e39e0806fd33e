import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database, Tx } from '../../server/db/index.ts';
import { users } from '../../server/db/schema/index.ts';
import { DomainError } from '../../server/errors.ts';
import {
  DbRenderJobStore,
  type RenderCharges,
  renderReconcilePass,
} from '../../server/renders/index.ts';
import { databaseBackends } from '../support/databases.ts';
import { composeRenders as composeWithOutbox } from './compose-renders.ts';
import { seedProject } from './seed.ts';

const spec = {
  width: 320,
  height: 180,
  fps: 25,
  subtitles: false,
  scenes: [{ text: 'x', durationSec: 1, background: { type: 'color' as const, color: '#000000' } }],
};
const output = { videoKey: 'v.mp4', thumbnailKey: 't.png', durationSec: 1, bytes: 10 };

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close();
});

/** A render service as a node composes it, closed after the test. */
function composeRenders(database: Database, charges?: RenderCharges) {
  const composed = composeWithOutbox({ db: database.db, ...(charges ? { charges } : {}) });
  opened.push(composed);
  return composed;
}

describe.each(databaseBackends)('render job store ($name)', (backend) => {
  async function setup() {
    const database = await backend.open();
    opened.push(database);
    const { queue, service, dispatched, close } = composeRenders(database);
    const { projectId, workspaceId } = await seedProject(database.db);
    const store = new DbRenderJobStore({ db: database.db });
    return { database, service, store, queue, dispatched, close, projectId, workspaceId };
  }

  it('fences writes by attempt: a taken-over attempt cannot write, a final state is kept', async () => {
    const { service, store, projectId, workspaceId } = await setup();
    const { render } = await service.submit({ projectId, workspaceId, spec });
    expect(render.status).toBe('queued');
    expect(await store.markRunning(render.id, 1)).toBe(true);
    expect(await store.updateProgress(render.id, 1, 0.5)).toBe(true);
    // Attempt 2 takes over; attempt 1 is fenced out from then on.
    expect(await store.markRunning(render.id, 2)).toBe(true);
    expect(await store.updateProgress(render.id, 1, 0.9)).toBe(false);
    expect(await store.markCompleted(render.id, 1, output)).toBe(false);
    expect(await store.markCompleted(render.id, 2, output)).toBe(true);
    // Final: nobody changes it, not even a later attempt.
    expect(await store.markFailed(render.id, 3, 'late')).toBe(false);
    expect(await store.markCancelled(render.id, 2)).toBe(false);
    expect(await store.get(render.id)).toMatchObject({
      status: 'completed',
      attempt: 2,
      progress: 1,
      videoKey: 'v.mp4',
      error: null,
    });
  });

  it('returns the first render for a repeated idempotency key of the same project', async () => {
    const { service, queue, dispatched, projectId, workspaceId } = await setup();
    const first = await service.submit({ projectId, workspaceId, spec, idempotencyKey: 'k' });
    const again = await service.submit({ projectId, workspaceId, spec, idempotencyKey: 'k' });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, render: { id: first.render.id } });
    const other = await service.submit({ projectId, workspaceId, spec, idempotencyKey: 'k2' });
    expect(other.render.id).not.toBe(first.render.id);
    await dispatched();
    expect((await queue.getJob(first.render.id))?.state).toBe('waiting');
  });

  it('cancels a queued render at once, and leaves a running one to its worker', async () => {
    const { service, store, queue, dispatched, projectId, workspaceId } = await setup();
    const { render: queued } = await service.submit({ projectId, workspaceId, spec });
    const { render: running } = await service.submit({ projectId, workspaceId, spec });
    await dispatched();
    const lease = await queue.take('w');
    expect(lease?.jobId).toBe(queued.id);
    const next = await queue.take('w');
    await store.markRunning(running.id, next!.attempt);
    expect((await service.cancel(running.id))?.status).toBe('running');
    expect(next!.signal.aborted).toBe(true);
    await store.markRunning(queued.id, lease!.attempt);
    await lease!.release();
    await store.markQueued(queued.id, lease!.attempt);
    expect((await service.cancel(queued.id))?.status).toBe('cancelled');
  });
  it('queues unfinished renders again after an embedded restart (the in-process queue forgot them)', async () => {
    const { database, service, store, dispatched, close, projectId, workspaceId } = await setup();
    const { render: running } = await service.submit({ projectId, workspaceId, spec });
    const { render: waiting } = await service.submit({ projectId, workspaceId, spec });
    const { render: done } = await service.submit({ projectId, workspaceId, spec });
    await dispatched();
    expect(await store.markRunning(running.id, 3)).toBe(true);
    expect(await store.markRunning(done.id, 1)).toBe(true);
    expect(await store.markCompleted(done.id, 1, output)).toBe(true);

    // The node stops. Left running, its outbox dispatcher could carry the requeues below to
    // its own (forgotten) queue before the restarted node's dispatcher does.
    await close();
    // The restarted node: a new, empty in-process queue, and its reconciler's first pass.
    const after = composeRenders(database);
    const pass = renderReconcilePass({
      db: database.db,
      store: after.service.store,
      queue: after.queue,
      graceMs: 0,
    });
    const repairs = await pass.run(new Date());
    expect(repairs.map((repair) => [repair.id, repair.action]).sort()).toEqual(
      [
        [running.id, 'requeued'],
        [waiting.id, 'requeued'],
      ].sort(),
    );
    await after.dispatched();
    const taken = [await after.queue.take('w'), await after.queue.take('w')];
    expect(new Set(taken.map((lease) => lease?.jobId))).toEqual(new Set([running.id, waiting.id]));
    // Attempts start again at 1 on the new queue, and the fence lets them write.
    for (const lease of taken)
      expect(await store.markRunning(lease!.jobId, lease!.attempt)).toBe(true);
    expect(await after.queue.take('w', { blockMs: 50 })).toBeNull();
    // A second pass finds nothing to repair: every unfinished render is known to the queue.
    expect(await pass.run(new Date())).toEqual([]);
  });

  it('charges before queuing: a refused charge leaves no render and no job', async () => {
    const { database, projectId, workspaceId } = await setup();
    const charges = new RecordingCharges({ refuse: true });
    const { service, queue, dispatched } = composeRenders(database, charges);
    const userId = await seedUser(database);
    await expect(
      service.submit({ projectId, workspaceId, spec, createdBy: userId }),
    ).rejects.toMatchObject({ code: 'insufficient_credits' });
    expect(charges.charged).toHaveLength(1);
    expect((await service.list(projectId, { limit: 10 })).items).toEqual([]);
    await dispatched();
    expect(await queue.getJob(charges.charged[0]!)).toBeNull();
  });

  it('refunds once, after the final failed or cancelled state is written, never a completed one', async () => {
    const { database, projectId, workspaceId } = await setup();
    const charges = new RecordingCharges();
    const { service } = composeRenders(database, charges);
    const userId = await seedUser(database);
    const submit = async () =>
      (await service.submit({ projectId, workspaceId, spec, createdBy: userId })).render.id;
    const failed = await submit();
    const done = await submit();
    const waiting = await submit();
    expect(charges.charged).toEqual([failed, done, waiting]);
    const store = service.store;
    expect(await store.markRunning(failed, 1)).toBe(true);
    expect(await store.markFailed(failed, 1, 'boom')).toBe(true);
    // A fenced-out late writer changes nothing and refunds nothing.
    expect(await store.markFailed(failed, 1, 'again')).toBe(false);
    expect(await store.markRunning(done, 1)).toBe(true);
    expect(await store.markCompleted(done, 1, output)).toBe(true);
    expect(await store.markCancelled(done, 1)).toBe(false);
    expect((await service.cancel(waiting))?.status).toBe('cancelled');
    expect(charges.refunded).toEqual([
      { renderId: failed, reason: 'failed' },
      { renderId: waiting, reason: 'cancelled' },
    ]);
  });
});

/** Records charges and refunds; refuses like a short wallet when told to. */
class RecordingCharges implements RenderCharges {
  readonly charged: string[] = [];
  readonly refunded: Array<{ renderId: string; reason: string }> = [];
  constructor(private readonly options: { refuse?: boolean } = {}) {}
  async chargeForRender(_tx: Tx, input: { renderId: string }): Promise<void> {
    this.charged.push(input.renderId);
    if (this.options.refuse) throw new DomainError('insufficient_credits', 'short wallet');
  }
  async refundRender(_tx: Tx, input: { renderId: string; reason: 'failed' | 'cancelled' }) {
    this.refunded.push(input);
  }
}

async function seedUser(database: Database): Promise<string> {
  const id = randomUUID();
  await database.db
    .insert(users)
    .values({ id, email: `${id}@example.test`, name: 'Renders', passwordHash: 'x' });
  return id;
}
