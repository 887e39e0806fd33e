import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import { MemoryJobQueue, RedisJobQueue, type RenderJobData } from '../../render-farm/index.ts';
import { resolveBillingSettings } from '../../server/billing/index.ts';
import { type Database, tables } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { OutboxDispatcher } from '../../server/outbox/index.ts';
import { enqueueRenderHandler, renderReconcilePass } from '../../server/renders/index.ts';
import { refuseWhileRendering } from '../../server/renders/project-cleanup.ts';
import {
  billingOn,
  expectLedgerConsistent,
  ownerWithWorkspace,
} from '../billing/support/wallets.ts';
import { databaseBackends } from '../support/databases.ts';
import { composeRenders } from './compose-renders.ts';

// The reconciler and the outbox in the hands of a test: what a crash between two writes, a
// dead letter, a lost queue or an unreachable Redis leaves behind is repaired, with the
// credits following the render's final state exactly once.

const spec = {
  width: 320,
  height: 180,
  fps: 25,
  subtitles: false,
  scenes: [{ text: 'x', durationSec: 1, background: { type: 'color' as const, color: '#000000' } }],
};

const closers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const resource of closers.splice(0).reverse()) await resource.close();
});

describe.each(databaseBackends)('render reconciler ($name)', (backend) => {
  async function setup(queue = new MemoryJobQueue<RenderJobData>({ maxAttempts: 1 })) {
    const database: Database = await backend.open();
    closers.push(database);
    const billing = billingOn(database.db, {
      settings: resolveBillingSettings({ signupCredits: 200 }),
    });
    const { userId, workspaceId } = await ownerWithWorkspace(database.db);
    await database.db.transaction((tx) =>
      billing.service.grantSignupCredits(tx, { userId, workspaceId }),
    );
    const [project] = await database.db
      .insert(tables.projects)
      .values({ id: randomUUID(), workspaceId, title: 'Reconcile', topic: 'tests' })
      .returning();
    const renders = composeRenders({ db: database.db, queue, charges: billing.renderCharges });
    closers.push(renders);
    const submit = async () =>
      (
        await renders.service.submit({
          projectId: project!.id,
          workspaceId,
          spec,
          createdBy: userId,
        })
      ).render;
    const balance = async () => (await billing.service.balanceOf(workspaceId)).balance;
    const pass = (options: { deadlineMs?: number; queue?: typeof queue } = {}) =>
      renderReconcilePass({
        db: database.db,
        store: renders.service.store,
        queue: options.queue ?? queue,
        graceMs: 0,
        ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
      });
    return { database, billing, renders, queue, submit, balance, pass, workspaceId, userId };
  }

  it('fails and refunds a render the queue dead-lettered before its row was written', async () => {
    const { renders, queue, submit, balance, pass, database, workspaceId } = await setup();
    const render = await submit();
    await renders.dispatched();
    expect(await balance()).toBe(160);
    // A worker of the old order: the queue's verdict first, then a crash before the row.
    const lease = await queue.take('w');
    expect(await renders.service.store.markRunning(render.id, lease!.attempt)).toBe(true);
    expect((await lease!.fail(new Error('ffmpeg exploded'), { retry: false })).outcome).toBe(
      'dead',
    );

    const repairs = await pass().run(new Date());
    expect(repairs).toEqual([
      expect.objectContaining({
        id: render.id,
        action: 'failed-dead',
        detail: expect.stringContaining('ffmpeg exploded'),
      }),
    ]);
    expect(await renders.service.store.get(render.id)).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('ffmpeg exploded'),
    });
    expect(await balance()).toBe(200);
    // Nothing left to repair, and a second pass refunds nothing twice.
    expect(await pass().run(new Date())).toEqual([]);
    expect(await balance()).toBe(200);
    await expectLedgerConsistent(database.db, workspaceId);
  });

  it('cancels and refunds a running render the queue no longer knows; its project can then go', async () => {
    const { renders, billing, submit, balance, database, workspaceId } = await setup();
    const render = await submit();
    await renders.dispatched();
    expect(await renders.service.store.markRunning(render.id, 1)).toBe(true);
    // The node restarted with an empty in-process queue, before any reconcile pass.
    const restarted = composeRenders({
      db: database.db,
      queue: new MemoryJobQueue(),
      charges: billing.renderCharges,
    });
    closers.push(restarted);
    expect((await restarted.service.cancel(render.id))?.status).toBe('cancelled');
    expect(await balance()).toBe(200);
    // No render holds the project any more.
    await database.db.transaction((tx) => refuseWhileRendering(tx, render.projectId));
    await expectLedgerConsistent(database.db, workspaceId);
  });

  it('fails and refunds a render past its deadline, and stops the job in the queue', async () => {
    const { renders, queue, submit, balance, pass } = await setup();
    const render = await submit();
    await renders.dispatched();
    const repairs = await pass({ deadlineMs: 1 }).run(new Date(Date.now() + 10));
    expect(repairs.map((repair) => repair.action)).toEqual(['failed-deadline']);
    expect((await renders.service.store.get(render.id))?.status).toBe('failed');
    expect((await queue.getJob(render.id))?.state).toBe('cancelled');
    expect(await balance()).toBe(200);
  });

  it('requeues what the queue lost only once, and never a render whose outbox entry is on its way', async () => {
    const { renders, submit, pass, database } = await setup();
    const lost = await submit();
    await renders.dispatched();
    // The outbox entry of this one is still waiting: the dispatcher will enqueue it.
    await renders.close();
    const waiting = await submit();
    const empty = new MemoryJobQueue<RenderJobData>();
    const repairs = await pass({ queue: empty }).run(new Date());
    expect(repairs.map((repair) => [repair.id, repair.action])).toEqual([[lost.id, 'requeued']]);
    expect(await pass({ queue: empty }).run(new Date())).toEqual([]);
    // Both reach the new queue through the outbox, each once.
    const dispatcher = new OutboxDispatcher({
      db: database.db,
      logger: createLogger('silent'),
      handlers: { 'render.enqueue': enqueueRenderHandler(renders.service.store, empty) },
    });
    closers.push(dispatcher);
    dispatcher.start();
    await dispatcher.flush();
    const taken = new Set([(await empty.take('w'))?.jobId, (await empty.take('w'))?.jobId]);
    expect(taken).toEqual(new Set([lost.id, waiting.id]));
    expect(await empty.take('w', { blockMs: 20 })).toBeNull();
    expect(await database.db.select().from(tables.outbox)).toEqual([]);
  });
});

describe('a submit while Redis is unreachable', () => {
  it('answers at once with a queued, charged render; the outbox retries until the queue takes it', async () => {
    const database = await databaseBackends[0]!.open();
    closers.push(database);
    // Nothing listens on port 1: every queue call fails.
    const unreachable = new RedisJobQueue<RenderJobData>({
      redis: redisConnectionFactory({ url: 'redis://127.0.0.1:1' }),
      prefix: `test-${randomUUID()}`,
    });
    const billing = billingOn(database.db);
    const { userId, workspaceId } = await ownerWithWorkspace(database.db);
    await database.db.transaction((tx) =>
      billing.service.grantSignupCredits(tx, { userId, workspaceId }),
    );
    const [project] = await database.db
      .insert(tables.projects)
      .values({ id: randomUUID(), workspaceId, title: 'Outage', topic: 'tests' })
      .returning();
    const renders = composeRenders({
      db: database.db,
      queue: unreachable,
      charges: billing.renderCharges,
      handlerTimeoutMs: 300,
    });
    closers.push(renders);
    const started = performance.now();
    const { render } = await renders.service.submit({
      projectId: project!.id,
      workspaceId,
      spec,
      createdBy: userId,
    });
    console.log(
      `[faults] submit with Redis unreachable answered in ${(performance.now() - started).toFixed(0)} ms`,
    );
    expect(render.status).toBe('queued');
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(10);
    await renders.dispatched();
    const [entry] = await database.db
      .select()
      .from(tables.outbox)
      .where(eq(tables.outbox.key, render.id));
    expect(entry?.attempts).toBeGreaterThanOrEqual(1);
    expect(entry?.lastError).toBeTruthy();
    await renders.close();
    await unreachable.close().catch(() => {});

    // Redis is back (here: a queue that answers); the entry is carried out once.
    const queue = new MemoryJobQueue<RenderJobData>();
    const dispatcher = new OutboxDispatcher({
      db: database.db,
      logger: createLogger('silent'),
      handlers: { 'render.enqueue': enqueueRenderHandler(renders.service.store, queue) },
    });
    closers.push(dispatcher);
    dispatcher.start();
    await database.db.update(tables.outbox).set({ availableAt: new Date(0) });
    await dispatcher.flush();
    expect((await queue.getJob(render.id))?.state).toBe('waiting');
    expect(await database.db.select().from(tables.outbox)).toEqual([]);
  });
});
