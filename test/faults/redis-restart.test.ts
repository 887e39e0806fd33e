import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { renderJobs } from '../../server/db/schema/renders.ts';
import {
  call,
  eventually,
  isRunning,
  ok,
  settledAs,
  signupWithProject,
  startFaultCluster,
} from './support/fault-cluster.ts';
import { balanceOf, expectSettledAndPaidOnce } from './support/invariants.ts';

// Redis is killed (SIGKILL) and started again empty, as a Redis without persistence comes back
// after a crash, while renders are queued and running: the queue forgot everything, and the
// database must bring every render to one final state with its credits right.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A few seconds of encoding on a loaded 2-core machine: long enough to be caught running. */
const MEDIUM = {
  width: 640,
  height: 360,
  fps: 25,
  scenes: [
    { text: 'Survives Redis', durationSec: 20, background: { type: 'color', color: '#553377' } },
  ],
};

describe('Redis restarted without persistence', () => {
  it('renders queued and running when Redis dies all end once, paid once; nodes survive', async () => {
    const c = await startFaultCluster();
    cleanups.push(() => c.close());
    // Enough credits for every render of the test in one wallet.
    const billingConfig = join(c.storageDir, 'billing.json');
    await writeFile(billingConfig, JSON.stringify({ signupCredits: 1000 }));
    const env = { BILLING_CONFIG: billingConfig };
    const api = await c.startApi({ env });
    const workers = [await c.startWorker({ env }), await c.startWorker({ env })];
    const member = await signupWithProject(api.url);
    const before = await balanceOf(c.database.db, member.workspaceId);
    const submit = async () => {
      const response = await call(api.url, `/projects/${member.projectId}/renders`, {
        token: member.token,
        json: { spec: MEDIUM },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(202);
      return (response.body.render as { id: string }).id;
    };
    const ids = [await submit(), await submit(), await submit(), await submit()];
    const statuses = async () => {
      const rows = await c.database.db
        .select({ id: renderJobs.id, status: renderJobs.status })
        .from(renderJobs)
        .where(eq(renderJobs.workspaceId, member.workspaceId));
      return rows.map((row) => row.status).sort();
    };
    // Two workers: two running, two waiting on the queue.
    await eventually(async () =>
      expect(await statuses()).toEqual(['queued', 'queued', 'running', 'running']),
    );
    for (const id of ids)
      await eventually(async () => expect(await c.queue.getJob(id)).not.toBeNull());

    await c.redis.kill();
    // Meanwhile the API answers: liveness yes, readiness no, and whatever needs only the
    // database works; a login (its rate limit lives in Redis) may be refused, with a 503.
    expect((await call(api.url, '/health')).status).toBe(200);
    expect((await call(api.url, '/ready')).status).toBe(503);
    ids.push(await submit());
    expect((await call(api.url, `/renders/${ids[0]}`, { token: member.token })).status).toBe(200);
    const me = (await ok(api.url, '/me', { token: member.token })) as { user: { email: string } };
    const login = await call(api.url, '/auth/login', {
      json: { email: me.user.email, password: 'correct horse battery' },
    });
    expect([200, 503], JSON.stringify(login.body)).toContain(login.status);
    // Longer than a lease: every job a worker held is forfeit by the time Redis is back.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(isRunning(api.child)).toBe(true);
    for (const worker of workers) expect(isRunning(worker.child)).toBe(true);

    await c.redis.start();
    await eventually(async () => expect((await call(api.url, '/ready')).status).toBe(200), 30_000);
    await eventually(
      async () => expect(await statuses()).toEqual(ids.map(() => 'completed')),
      150_000,
      250,
    );
    await new Promise((resolve) => setTimeout(resolve, 600));
    for (const id of ids) expect(settledAs(c.workers, id, 'completed'), id).toBe(1);
    await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
    // No process died of the outage.
    expect(isRunning(api.child)).toBe(true);
    for (const worker of workers) expect(isRunning(worker.child)).toBe(true);
  });
});
