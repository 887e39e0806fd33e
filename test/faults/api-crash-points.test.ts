import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { renderJobs } from '../../server/db/schema/renders.ts';
import type { NodeProcess } from '../support/processes.ts';
import {
  call,
  eventually,
  exitOf,
  type FaultCluster,
  type Member,
  SHORT_SPEC,
  settledAs,
  signupWithProject,
  startFaultCluster,
} from './support/fault-cluster.ts';
import { balanceOf, expectSettledAndPaidOnce } from './support/invariants.ts';
import { REPETITIONS, repeat } from './support/repetitions.ts';

// Crash points on the API node's transitions (server/crash-points.ts): the node kills itself
// with SIGKILL at the point, a fresh node (no crash point) takes over, and then the render
// must end once, paid once. Real processes on a throwaway Postgres database and Redis.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster(): Promise<FaultCluster> {
  const started = await startFaultCluster();
  cleanups.push(() => started.close());
  return started;
}

/** The one render of a project, however its submit ended. */
async function renderOf(c: FaultCluster, member: Member) {
  const rows = await c.database.db
    .select()
    .from(renderJobs)
    .where(eq(renderJobs.projectId, member.projectId));
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function outboxEntries(c: FaultCluster, renderId?: string) {
  const rows = await c.database.db.select().from(tables.outbox);
  return renderId ? rows.filter((row) => row.key === renderId) : rows;
}

async function statusOf(c: FaultCluster, renderId: string) {
  const [row] = await c.database.db.select().from(renderJobs).where(eq(renderJobs.id, renderId));
  return row?.status;
}

/** Log lines leave a process up to 250 ms late: give a duplicate the time to show. */
const LOG_FLUSH_MS = 600;

/** Completed exactly once, charged once, delivered by the queue once, nothing left over. */
async function expectCompletedOnce(
  c: FaultCluster,
  member: Member,
  renderId: string,
  before: number,
) {
  await eventually(async () => expect(await statusOf(c, renderId)).toBe('completed'), 60_000, 100);
  await eventually(async () => expect(await outboxEntries(c)).toEqual([]), 30_000, 100);
  await eventually(() => expect(settledAs(c.workers, renderId, 'completed')).toBe(1), 5_000, 50);
  await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS));
  expect(settledAs(c.workers, renderId, 'completed')).toBe(1);
  const rows = await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
  expect(rows.get(renderId)?.status).toBe('completed');
  // One job on the queue, handed out once: nothing enqueued or rendered twice.
  expect(await c.queue.getJob(renderId)).toMatchObject({ state: 'completed', deliveries: 1 });
}

describe('API crash points (kill -9)', () => {
  it('render.submit.after-commit: the request dies with its node; the next node enqueues it', async () => {
    const c = await cluster();
    await c.startWorker();
    await repeat('render.submit.after-commit', async () => {
      let api: NodeProcess | undefined;
      const crashing = await c.startApi({ crashPoints: ['render.submit.after-commit'] });
      try {
        const member = await signupWithProject(crashing.url);
        const before = await balanceOf(c.database.db, member.workspaceId);
        const submit = call(crashing.url, `/projects/${member.projectId}/renders`, {
          token: member.token,
          json: { spec: SHORT_SPEC },
        });
        // The node died between its commit and its answer.
        await expect(submit).rejects.toThrow();
        expect(await exitOf(crashing.child)).toBe('SIGKILL');
        const render = await renderOf(c, member);
        expect(render.status).toBe('queued');
        expect(await outboxEntries(c, render.id)).toHaveLength(1);
        expect(await c.queue.getJob(render.id)).toBeNull();

        api = await c.startApi();
        await expectCompletedOnce(c, member, render.id, before);
      } finally {
        await crashing.stop('SIGKILL');
        await api?.stop();
      }
    });
  });

  it('outbox.after-handlers: enqueued but not removed; the entry runs again, harmlessly', async () => {
    const c = await cluster();
    await c.startWorker();
    // Members sign up on a plain node: a crashing one dies on its first outbox entry, whatever
    // it is.
    const setup = await c.startApi();
    const members: Member[] = [];
    for (let i = 0; i < REPETITIONS; i += 1) members.push(await signupWithProject(setup.url));
    await setup.stop();
    await repeat('outbox.after-handlers', async (index) => {
      let api: NodeProcess | undefined;
      const member = members[index]!;
      const crashing = await c.startApi({ crashPoints: ['outbox.after-handlers'] });
      try {
        const before = await balanceOf(c.database.db, member.workspaceId);
        // The answer may or may not leave before the dispatcher's pass kills the node.
        await call(crashing.url, `/projects/${member.projectId}/renders`, {
          token: member.token,
          json: { spec: SHORT_SPEC },
        }).catch(() => undefined);
        expect(await exitOf(crashing.child)).toBe('SIGKILL');
        const render = await renderOf(c, member);
        // The handler ran (the job is on the queue); the entry was not removed.
        expect(await c.queue.getJob(render.id)).not.toBeNull();
        expect(await outboxEntries(c, render.id)).toHaveLength(1);

        api = await c.startApi();
        await expectCompletedOnce(c, member, render.id, before);
      } finally {
        await crashing.stop('SIGKILL');
        await api?.stop();
      }
    });
  });

  it('reconciler.after-repair: a job the queue lost is requeued, the node dies; the next one enqueues it', async () => {
    const c = await cluster();
    await repeat('reconciler.after-repair', async () => {
      let api: NodeProcess | undefined;
      const crashing = await c.startApi({ crashPoints: ['reconciler.after-repair'] });
      try {
        const member = await signupWithProject(crashing.url);
        const before = await balanceOf(c.database.db, member.workspaceId);
        const submitted = await call(crashing.url, `/projects/${member.projectId}/renders`, {
          token: member.token,
          json: { spec: SHORT_SPEC },
        });
        expect(submitted.status).toBe(202);
        const renderId = (submitted.body.render as { id: string }).id;
        // No worker runs yet: the job waits on the queue. Then the queue loses it.
        await eventually(async () => expect(await c.queue.getJob(renderId)).not.toBeNull());
        await eventually(async () => expect(await outboxEntries(c, renderId)).toEqual([]));
        await c.loseJob(renderId);
        expect(await c.queue.getJob(renderId)).toBeNull();
        // The reconciler finds it (after its grace period), requeues it, and the node dies.
        expect(await exitOf(crashing.child, 30_000)).toBe('SIGKILL');
        const render = await renderOf(c, member);
        expect(render).toMatchObject({ status: 'queued', attempt: 0 });
        expect(render.error).toMatch(/lost/);
        expect(await outboxEntries(c, renderId)).toHaveLength(1);

        api = await c.startApi();
        const worker = await c.startWorker();
        try {
          await expectCompletedOnce(c, member, renderId, before);
        } finally {
          await worker.stop();
        }
      } finally {
        await crashing.stop('SIGKILL');
        await api?.stop();
      }
    });
  });
});
