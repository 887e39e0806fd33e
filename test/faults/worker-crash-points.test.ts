import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { renderJobs } from '../../server/db/schema/renders.ts';
import { seedAsset } from '../render-farm/seed.ts';
import type { WorkerProcess } from '../render-farm/worker-processes.ts';
import type { NodeProcess } from '../support/processes.ts';
import {
  eventually,
  exitOf,
  type FaultCluster,
  type Member,
  ok,
  SHORT_SPEC,
  settledAs,
  signupWithProject,
  startFaultCluster,
} from './support/fault-cluster.ts';
import { balanceOf, expectSettledAndPaidOnce } from './support/invariants.ts';
import { repeat } from './support/repetitions.ts';

// Crash points on the render worker's transitions (server/crash-points.ts): the worker kills
// itself with SIGKILL at the point, a second worker (no crash point) takes the job over once
// the lease runs out, and then the render must end once, paid once, and a verdict already
// written must stand. Real processes on a throwaway Postgres database and Redis.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A cluster with one API node for the whole test. */
async function cluster(): Promise<{ c: FaultCluster; api: NodeProcess }> {
  const c = await startFaultCluster();
  cleanups.push(() => c.close());
  return { c, api: await c.startApi() };
}

async function rowOf(c: FaultCluster, renderId: string) {
  const [row] = await c.database.db.select().from(renderJobs).where(eq(renderJobs.id, renderId));
  return row!;
}

async function submit(api: NodeProcess, member: Member, spec: unknown = SHORT_SPEC) {
  const { render } = (await ok(api.url, `/projects/${member.projectId}/renders`, {
    token: member.token,
    json: { spec },
  })) as { render: { id: string } };
  return render.id;
}

/** Log lines leave a process up to 250 ms late: give a duplicate the time to show. */
const LOG_FLUSH_MS = 600;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One repetition: a crashing worker, the render, its death, then a second worker. */
async function crashThenTakeOver(
  c: FaultCluster,
  crashPoint: string,
  run: (crashing: WorkerProcess, start: () => Promise<WorkerProcess>) => Promise<void>,
): Promise<void> {
  const started: WorkerProcess[] = [];
  try {
    const crashing = await c.startWorker({ crashPoints: [crashPoint] });
    started.push(crashing);
    await run(crashing, async () => {
      const worker = await c.startWorker();
      started.push(worker);
      return worker;
    });
  } finally {
    await Promise.all(started.map((worker) => worker.killHard()));
  }
}

describe('worker crash points (kill -9)', () => {
  it('render.worker.before-verdict: FFmpeg done, nothing written; the second worker completes it once', async () => {
    const { c, api } = await cluster();
    await repeat('render.worker.before-verdict', () =>
      crashThenTakeOver(c, 'render.worker.before-verdict', async (crashing, start) => {
        const member = await signupWithProject(api.url);
        const before = await balanceOf(c.database.db, member.workspaceId);
        const renderId = await submit(api, member);
        expect(await exitOf(crashing.child)).toBe('SIGKILL');
        expect(await rowOf(c, renderId)).toMatchObject({ status: 'running', attempt: 1 });

        const second = await start();
        await eventually(async () => expect((await rowOf(c, renderId)).status).toBe('completed'));
        // The take-over is attempt 2 and it alone completed; the charge stands.
        expect((await rowOf(c, renderId)).attempt).toBe(2);
        await eventually(() => expect(settledAs([second], renderId, 'completed')).toBe(1), 5_000);
        await pause(LOG_FLUSH_MS);
        expect(settledAs(c.workers, renderId, 'completed')).toBe(1);
        await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
        expect(await c.queue.getJob(renderId)).toMatchObject({ state: 'completed', deliveries: 2 });
      }),
    );
  });

  it('render.worker.after-verdict (completed): the second worker settles the lease without rendering again', async () => {
    const { c, api } = await cluster();
    await repeat('render.worker.after-verdict (completed)', () =>
      crashThenTakeOver(c, 'render.worker.after-verdict', async (crashing, start) => {
        const member = await signupWithProject(api.url);
        const before = await balanceOf(c.database.db, member.workspaceId);
        const renderId = await submit(api, member);
        expect(await exitOf(crashing.child)).toBe('SIGKILL');
        // The verdict is committed; the queue still has the job out to the dead worker.
        const verdict = await rowOf(c, renderId);
        expect(verdict).toMatchObject({ status: 'completed', attempt: 1 });
        expect(await c.queue.getJob(renderId)).toMatchObject({ state: 'active', deliveries: 1 });
        const video = await stat(join(c.storageDir, verdict.videoKey!));

        const second = await start();
        await eventually(async () =>
          expect(await c.queue.getJob(renderId)).toMatchObject({ state: 'completed' }),
        );
        await pause(LOG_FLUSH_MS);
        // Taken over and settled, not rendered: the row and the file are as the first left them.
        expect(settledAs([second], renderId, 'lost')).toBe(1);
        expect(settledAs(c.workers, renderId, 'completed')).toBe(0);
        expect(await rowOf(c, renderId)).toEqual(verdict);
        expect((await stat(join(c.storageDir, verdict.videoKey!))).mtimeMs).toBe(video.mtimeMs);
        await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
      }),
    );
  });

  it('render.worker.after-verdict (failed): failed and refunded once; the second worker only settles it', async () => {
    const { c, api } = await cluster();
    await repeat('render.worker.after-verdict (failed)', () =>
      crashThenTakeOver(c, 'render.worker.after-verdict', async (crashing, start) => {
        const member = await signupWithProject(api.url);
        const before = await balanceOf(c.database.db, member.workspaceId);
        // An image whose stored key leaves the storage directory: the worker never finds it,
        // an unrecoverable failure on the first attempt.
        const image = await seedAsset(c.database.db, member.projectId, 'image', '../outside.png');
        const renderId = await submit(api, member, {
          ...SHORT_SPEC,
          scenes: [
            { text: 'Never', durationSec: 1, background: { type: 'image', assetId: image } },
          ],
        });
        expect(await exitOf(crashing.child)).toBe('SIGKILL');
        const verdict = await rowOf(c, renderId);
        expect(verdict).toMatchObject({ status: 'failed', attempt: 1 });
        expect(verdict.error).toMatch(/UnrecoverableError: .*not found/);
        // Refunded in the transaction of the verdict, before anything else could happen.
        await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
        expect(await c.queue.getJob(renderId)).toMatchObject({ state: 'active', deliveries: 1 });

        const second = await start();
        await eventually(async () =>
          expect((await c.queue.getJob(renderId))?.state).toMatch(/^(completed|dead)$/),
        );
        await pause(LOG_FLUSH_MS);
        expect(settledAs([second], renderId, 'lost')).toBe(1);
        expect(await rowOf(c, renderId)).toEqual(verdict);
        await expectSettledAndPaidOnce(c.database.db, member.workspaceId, before);
      }),
    );
  });
});
