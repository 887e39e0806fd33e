// A standalone worker process when what it stands on fails: killed with kill -9 alone (not
// its process group, as a supervisor or the OOM killer does), it takes its FFmpeg with it; its
// Redis going away and coming back, it keeps running and renders again.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import { canBindChildrenToParent } from '../../render-farm/bound-child-process.ts';
import { RedisJobQueue, type RenderJobData, renderQueuePrefix } from '../../render-farm/index.ts';
import { type RenderSpecInput, renderSpecSchema } from '../../shared/render-spec.ts';
import { openTestPostgres } from '../support/databases.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { ThrowawayRedis } from '../support/throwaway-redis.ts';
import { composeRenders } from './compose-renders.ts';
import { seedProject } from './seed.ts';
import {
  childrenOf,
  isRunning,
  processesMatching,
  startWorker,
  type WorkerProcess,
} from './worker-processes.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(redisUrl: string) {
  const database = await openTestPostgres();
  const storageDir = await mkdtemp(join(tmpdir(), 'reelroom-worker-failures-'));
  const redisKeyPrefix = `test-${randomUUID()}`;
  const queue = new RedisJobQueue<RenderJobData>({
    redis: redisConnectionFactory({ url: redisUrl }),
    prefix: renderQueuePrefix(redisKeyPrefix),
  });
  const renders = composeRenders({ db: database.db, queue });
  const workers: WorkerProcess[] = [];
  cleanups.push(async () => {
    await Promise.all(workers.map((worker) => worker.killHard()));
    await renders.close();
    await queue.destroy();
    await queue.close();
    await database.close();
    await rm(storageDir, { recursive: true, force: true });
  });
  const project = await seedProject(database.db);
  const spawnWorker = async () => {
    const worker = await startWorker({
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      STORAGE_DIR: storageDir,
      REDIS_KEY_PREFIX: redisKeyPrefix,
      LEASE_MS: '1500',
      HEARTBEAT_MS: '250',
    });
    workers.push(worker);
    return worker;
  };
  const submit = async (spec: RenderSpecInput) =>
    (await renders.service.submit({ ...project, spec: renderSpecSchema.parse(spec) })).render;
  const statusOf = async (id: string) => (await renders.service.store.get(id))?.status;
  return { spawnWorker, submit, statusOf };
}

const colour = { type: 'color', color: '#335577' } as const;
/** Long enough to be caught mid-encode on a loaded 2-core machine. */
const LONG: RenderSpecInput = {
  width: 1280,
  height: 720,
  fps: 25,
  scenes: [{ text: 'Dies with its worker', durationSec: 40, background: colour }],
};
const SHORT: RenderSpecInput = {
  width: 160,
  height: 90,
  fps: 10,
  scenes: [{ text: 'Quick', durationSec: 1, background: colour }],
};

describe('a standalone worker process', () => {
  it.runIf(canBindChildrenToParent())(
    'takes its FFmpeg with it when it alone is killed with kill -9',
    async () => {
      const { spawnWorker, submit } = await setup(TEST_REDIS_URL);
      const worker = await spawnWorker();
      const render = await submit(LONG);
      const workerPid = worker.child.pid!;
      let ffmpeg: number[] = [];
      await vi.waitFor(
        () => {
          // FFmpeg is the worker's own child (setpriv execs it under the same pid).
          ffmpeg = processesMatching(render.id).filter((pid) =>
            childrenOf(workerPid).includes(pid),
          );
          expect(ffmpeg.length).toBeGreaterThan(0);
        },
        { timeout: 30_000, interval: 50 },
      );
      // The worker alone, not its process group: only the parent-death signal can stop FFmpeg.
      process.kill(workerPid, 'SIGKILL');
      await vi.waitFor(() => expect(ffmpeg.filter(isRunning)).toEqual([]), {
        timeout: 5_000,
        interval: 20,
      });
    },
  );

  it('keeps running through a Redis outage and renders again once Redis is back', async () => {
    const redis = await ThrowawayRedis.start();
    cleanups.push(() => redis.stop());
    const { spawnWorker, submit, statusOf } = await setup(redis.url);
    // setup's cleanup needs Redis; it runs before this one (cleanups run in reverse).
    cleanups.push(() => redis.start().catch(() => undefined));
    const worker = await spawnWorker();
    // A first render opens every connection the worker has, its room emitter's included.
    const first = await submit(SHORT);
    await vi.waitFor(async () => expect(await statusOf(first.id)).toBe('completed'), {
      timeout: 60_000,
      interval: 100,
    });

    await redis.stop();
    // Long enough for every connection to notice and retry a few times.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(worker.child.exitCode).toBeNull();
    expect(worker.child.signalCode).toBeNull();

    await redis.start();
    const second = await submit(SHORT);
    await vi.waitFor(async () => expect(await statusOf(second.id)).toBe('completed'), {
      timeout: 60_000,
      interval: 100,
    });
    expect(worker.child.exitCode).toBeNull();
  });
});
