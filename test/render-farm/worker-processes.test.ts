import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import { RedisJobQueue, type RenderJobData, renderQueuePrefix } from '../../render-farm/index.ts';
import { type RenderSpecInput, renderSpecSchema } from '../../shared/render-spec.ts';
import { openTestPostgres } from '../support/databases.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { composeRenders } from './compose-renders.ts';
import { describeMp4, isAlive } from './media.ts';
import { seedProject } from './seed.ts';
import { processesMatching, startWorker, type WorkerProcess } from './worker-processes.ts';

// Standalone worker processes (the composition of `npm run start:worker`) against real Redis,
// Postgres and FFmpeg; the test plays the API node and submits through the RenderService.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const database = await openTestPostgres();
  const storageDir = await mkdtemp(join(tmpdir(), 'reelroom-workers-test-'));
  const redisKeyPrefix = `test-${randomUUID()}`;
  const queue = new RedisJobQueue<RenderJobData>({
    redis: redisConnectionFactory({ url: TEST_REDIS_URL }),
    prefix: renderQueuePrefix(redisKeyPrefix),
  });
  const renders = composeRenders({ db: database.db, queue });
  const service = renders.service;
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
  const spawnWorker = async (extra: Record<string, string> = {}) => {
    const worker = await startWorker({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      STORAGE_DIR: storageDir,
      REDIS_KEY_PREFIX: redisKeyPrefix,
      LEASE_MS: '1500',
      HEARTBEAT_MS: '250',
      ...extra,
    });
    workers.push(worker);
    return worker;
  };
  const submit = (spec: RenderSpecInput) =>
    service.submit({ ...project, spec: renderSpecSchema.parse(spec) });
  const statusOf = async (id: string) => (await service.store.get(id))?.status;
  return { database, storageDir, queue, service, spawnWorker, submit, statusOf };
}

const colour = { type: 'color', color: '#335577' } as const;
/** A few seconds of encoding on a loaded 2-core machine: long enough to be caught mid-render. */
const LONG: RenderSpecInput = {
  width: 1280,
  height: 720,
  fps: 25,
  scenes: [{ text: 'Survives a dead worker', durationSec: 40, background: colour }],
};

function completionsSoFar(workers: WorkerProcess[]): string[] {
  return workers.flatMap((worker) =>
    worker.logs
      .filter((log) => log.msg === 'render settled' && log.outcome === 'completed')
      .map((log) => String(log.renderId)),
  );
}

/** Log lines leave a worker up to 250 ms late (buffered writes). */
const LOG_FLUSH_MS = 250;

/**
 * The completions the workers logged, once `expected` of them arrived and two more flush
 * intervals passed, so that a duplicate completion would have shown up too.
 */
async function completions(workers: WorkerProcess[], expected: number): Promise<string[]> {
  await vi
    .waitFor(() => expect(completionsSoFar(workers).length).toBeGreaterThanOrEqual(expected), {
      timeout: 5_000,
      interval: 50,
    })
    .catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 2 * LOG_FLUSH_MS));
  return completionsSoFar(workers);
}

describe('standalone worker processes (Redis Streams, Postgres, FFmpeg)', () => {
  it('finishes a render on another worker after kill -9 of the one rendering it', async () => {
    const { spawnWorker, submit, statusOf, service, storageDir } = await setup();
    const first = await spawnWorker();
    const { render } = await submit(LONG);
    await vi.waitFor(
      async () => {
        expect(await statusOf(render.id)).toBe('running');
        expect(processesMatching(render.id).length).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 50 },
    );
    const ffmpegPids = processesMatching(render.id);
    await first.killHard();
    // The whole machine is gone, FFmpeg included (its group was killed with the worker).
    await vi.waitFor(() => expect(ffmpegPids.filter(isAlive)).toEqual([]), { timeout: 5_000 });

    const second = await spawnWorker();
    await vi.waitFor(async () => expect(await statusOf(render.id)).toBe('completed'), {
      timeout: 90_000,
      interval: 200,
    });
    const row = await service.store.get(render.id);
    // Attempt 1 died with its worker; the take-over is attempt 2, and it alone completed.
    expect(row?.attempt).toBe(2);
    expect(await completions([first, second], 1)).toEqual([render.id]);
    const mp4 = await describeMp4(join(storageDir, row!.videoKey!));
    expect(Math.abs(mp4.durationSec - 40)).toBeLessThanOrEqual(0.1);
    expect(mp4.video).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    expect(mp4.audio?.codec).toBe('aac');
    // The killed attempt's temporary files were cleared by the next one.
    const dir = join(storageDir, 'renders', row!.projectId);
    expect((await readdir(dir)).sort()).toEqual([`${render.id}.mp4`, `${render.id}.png`]);
  });

  it('cancels a render running in another process: FFmpeg is gone within a second', async () => {
    const { spawnWorker, submit, statusOf, service } = await setup();
    await spawnWorker();
    const { render } = await submit(LONG);
    let pids: number[] = [];
    await vi.waitFor(
      () => {
        pids = processesMatching(render.id);
        expect(pids.length).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 50 },
    );
    await service.cancel(render.id);
    await vi.waitFor(() => expect(pids.filter(isAlive)).toEqual([]), {
      timeout: 1_000,
      interval: 20,
    });
    await vi.waitFor(async () => expect(await statusOf(render.id)).toBe('cancelled'), {
      timeout: 10_000,
      interval: 100,
    });
  });

  it('hands a running render back on SIGTERM after the grace period; another worker ends it', async () => {
    const { spawnWorker, submit, statusOf, service } = await setup();
    const leaving = await spawnWorker({ GRACE_MS: '0' });
    const { render } = await submit(LONG);
    await vi.waitFor(async () => expect(await statusOf(render.id)).toBe('running'), {
      timeout: 30_000,
      interval: 50,
    });
    await leaving.stop();
    expect(leaving.child.exitCode).toBe(0);
    expect(
      leaving.logs.some((log) => log.msg === 'render settled' && log.outcome === 'handed-back'),
    ).toBe(true);
    expect(await statusOf(render.id)).toBe('queued');
    const next = await spawnWorker();
    await vi.waitFor(async () => expect(await statusOf(render.id)).toBe('completed'), {
      timeout: 90_000,
      interval: 200,
    });
    // Handed back, not failed: the second delivery is attempt 2 with no failure counted.
    expect((await service.store.get(render.id))?.attempt).toBe(2);
    expect(await completions([leaving, next], 1)).toEqual([render.id]);
  });

  it('three workers and twelve jobs: all complete, each exactly once', async () => {
    const { spawnWorker, submit, service, storageDir } = await setup();
    const workers = await Promise.all([spawnWorker(), spawnWorker(), spawnWorker()]);
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const { render } = await submit({
        width: 160,
        height: 90,
        fps: 10,
        scenes: [{ text: `Job ${i}`, durationSec: 1, background: colour }],
      });
      ids.push(render.id);
    }
    await vi.waitFor(
      async () => expect(await service.store.countByStatus(ids)).toEqual({ completed: 12 }),
      { timeout: 120_000, interval: 250 },
    );
    const done = await completions(workers, ids.length);
    expect(done.sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const row = await service.store.get(id);
      expect(row?.attempt).toBe(1);
      const mp4 = await describeMp4(join(storageDir, row!.videoKey!));
      expect(Math.abs(mp4.durationSec - 1)).toBeLessThanOrEqual(0.1);
    }
  });
});
