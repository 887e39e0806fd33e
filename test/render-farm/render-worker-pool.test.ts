import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import {
  FfmpegRenderer,
  type JobQueueOptions,
  RedisJobQueue,
  type RenderJobData,
  RenderWorkerPool,
  type RoomEventPublisher,
} from '../../render-farm/index.ts';
import { DbAssetResolver } from '../../server/renders/index.ts';
import { LocalFileStorage } from '../../server/storage/index.ts';
import type { RenderSpecInput } from '../../shared/render-spec.ts';
import { renderSpecSchema } from '../../shared/render-spec.ts';
import type {
  RenderProgressEvent,
  RoomEventName,
  RoomEventPayload,
} from '../../shared/socket-events.ts';
import { openTestPostgres } from '../support/databases.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { composeRenders } from './compose-renders.ts';
import { describeMp4, isAlive, makeImage } from './media.ts';
import { seedAsset, seedProject } from './seed.ts';
import { processesMatching } from './worker-processes.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Collects the progress the pool publishes. */
class Recorder implements RoomEventPublisher {
  readonly events: Array<RenderProgressEvent & { projectId: string }> = [];
  emit<E extends RoomEventName>(projectId: string, event: E, payload: RoomEventPayload<E>): void {
    if (event !== 'render:progress') return;
    this.events.push({ ...(payload as RenderProgressEvent), projectId });
  }
}

async function setup(queueOptions: JobQueueOptions = {}) {
  const database = await openTestPostgres();
  const storageDir = await mkdtemp(join(tmpdir(), 'reelroom-pool-test-'));
  const queue = new RedisJobQueue<RenderJobData>({
    redis: redisConnectionFactory({ url: TEST_REDIS_URL }),
    prefix: `test-${randomUUID()}`,
    backoffMs: 50,
    ...queueOptions,
  });
  const publisher = new Recorder();
  const renders = composeRenders({ db: database.db, queue });
  const service = renders.service;
  const pool = new RenderWorkerPool({
    queue,
    store: service.store,
    renderer: new FfmpegRenderer({ threads: 1 }),
    assets: new DbAssetResolver({ db: database.db }),
    files: new LocalFileStorage({ root: storageDir }),
    publisher,
    concurrency: 1,
    pollMs: 200,
    logger: { info() {}, warn() {}, error: (details, message) => console.error(message, details) },
  }).start();
  cleanups.push(async () => {
    await pool.close({ graceMs: 0 });
    await renders.close();
    await queue.destroy();
    await queue.close();
    await database.close();
    await rm(storageDir, { recursive: true, force: true });
  });
  const project = await seedProject(database.db);
  const submit = (spec: RenderSpecInput) =>
    service.submit({ ...project, spec: renderSpecSchema.parse(spec) });
  return { database, storageDir, queue, publisher, service, pool, project, submit };
}

const colour = { type: 'color', color: '#224466' } as const;

describe('render worker pool (Redis queue, Postgres)', () => {
  it('renders a job to completion, publishing progress all along', async () => {
    const { submit, service, publisher, storageDir } = await setup();
    // 720p so the encode lasts a few seconds and FFmpeg reports its speed (every 0.5 s).
    const { render } = await submit({
      width: 1280,
      height: 720,
      fps: 25,
      scenes: [
        { text: 'One', durationSec: 12, background: colour },
        { text: 'Two', durationSec: 8, background: colour },
      ],
    });
    // Progress keeps coming while it renders (a timer publishes it every 250 ms): updates
    // between the start and the end, not only those two.
    const midway = () =>
      publisher.events.filter(
        (event) =>
          event.renderId === render.id &&
          event.status === 'running' &&
          event.progress > 0 &&
          event.progress < 1,
      );
    await vi.waitFor(() => expect(midway().length).toBeGreaterThanOrEqual(3), {
      timeout: 60_000,
      interval: 50,
    });
    await vi.waitFor(
      async () => expect((await service.store.get(render.id))?.status).toBe('completed'),
      { timeout: 60_000, interval: 200 },
    );
    const row = await service.store.get(render.id);
    expect(row).toMatchObject({ attempt: 1, progress: 1, error: null });
    const mp4 = await describeMp4(join(storageDir, row!.videoKey!));
    expect(Math.abs(mp4.durationSec - 20)).toBeLessThanOrEqual(0.1);
    expect(mp4.video).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    expect(mp4.audio?.codec).toBe('aac');

    const events = publisher.events.filter((event) => event.renderId === render.id);
    expect(events[0]).toMatchObject({ status: 'running', progress: 0 });
    expect(events.at(-1)).toMatchObject({ status: 'completed', progress: 1 });
    expect(events.filter((event) => event.status === 'completed')).toHaveLength(1);
    const running = events.filter((event) => event.status === 'running');
    expect(running.some((event) => event.fps !== undefined && event.etaSeconds !== undefined)).toBe(
      true,
    );
    expect(running.every((event) => event.progress >= 0 && event.progress <= 1)).toBe(true);
    // In order: progress never goes back.
    const values = running.map((event) => event.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
  });

  it('cancels a running render: FFmpeg is gone within a second, the job ends cancelled', async () => {
    const { submit, service, publisher } = await setup();
    const { render } = await submit({
      width: 640,
      height: 360,
      fps: 30,
      scenes: [{ text: 'Long', durationSec: 120, background: colour }],
    });
    let pids: number[] = [];
    await vi.waitFor(
      () => {
        pids = processesMatching(render.id);
        expect(pids.length).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 50 },
    );
    expect((await service.cancel(render.id))?.status).toBe('running');
    await vi.waitFor(() => expect(pids.filter(isAlive)).toEqual([]), {
      timeout: 1_000,
      interval: 20,
    });
    await vi.waitFor(
      async () => expect((await service.store.get(render.id))?.status).toBe('cancelled'),
      { timeout: 10_000, interval: 100 },
    );
    const finals = publisher.events.filter(
      (event) =>
        event.renderId === render.id && ['completed', 'failed', 'cancelled'].includes(event.status),
    );
    expect(finals.map((event) => event.status)).toEqual(['cancelled']);
  });

  it('dead-letters a render that makes FFmpeg fail, after maxAttempts, with its error', async () => {
    const { submit, service, queue, database, project, storageDir } = await setup({
      maxAttempts: 2,
    });
    // Stored as a PNG, but the bytes are not an image: FFmpeg fails on it every time.
    await mkdir(join(storageDir, 'assets'), { recursive: true });
    await writeFile(join(storageDir, 'assets', 'broken.png'), 'this is not a png at all');
    const broken = await seedAsset(database.db, project.projectId, 'image', 'assets/broken.png');
    const { render } = await submit({
      width: 320,
      height: 180,
      fps: 25,
      scenes: [{ text: 'x', durationSec: 1, background: { type: 'image', assetId: broken } }],
    });
    await vi.waitFor(
      async () => expect((await service.store.get(render.id))?.status).toBe('failed'),
      { timeout: 30_000, interval: 100 },
    );
    const letters = await queue.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ jobId: render.id, attempts: 2 });
    // FFmpeg's own reason reaches the dead letter (and the render's error).
    expect(letters[0]!.error).toMatch(/RenderFailedError: ffmpeg failed: .*Invalid PNG signature/);
    const row = await service.store.get(render.id);
    expect(row).toMatchObject({ attempt: 2, error: letters[0]!.error });
  });

  it('fails a render whose asset does not exist at once, naming the field', async () => {
    const { submit, service, queue } = await setup({ maxAttempts: 3 });
    const { render } = await submit({
      width: 320,
      height: 180,
      fps: 25,
      scenes: [{ text: 'x', background: colour, voiceoverAssetId: randomUUID() }],
    });
    await vi.waitFor(
      async () => expect((await service.store.get(render.id))?.status).toBe('failed'),
      { timeout: 30_000, interval: 100 },
    );
    expect((await service.store.get(render.id))?.error).toMatch(
      /UnrecoverableError: scenes\.0\.voiceoverAssetId: asset .* not found/,
    );
    expect((await queue.deadLetters())[0]).toMatchObject({ jobId: render.id, attempts: 1 });
  });

  it('renders an image asset from storage', async () => {
    const { submit, service, database, project, storageDir } = await setup();
    await mkdir(join(storageDir, 'assets'), { recursive: true });
    await makeImage(join(storageDir, 'assets', 'bg.png'));
    const image = await seedAsset(database.db, project.projectId, 'image', 'assets/bg.png');
    const { render } = await submit({
      width: 320,
      height: 180,
      fps: 25,
      subtitles: true,
      scenes: [
        { text: 'Caption', durationSec: 1.5, background: { type: 'image', assetId: image } },
      ],
    });
    await vi.waitFor(
      async () => expect((await service.store.get(render.id))?.status).toBe('completed'),
      { timeout: 30_000, interval: 100 },
    );
    const row = await service.store.get(render.id);
    const mp4 = await describeMp4(join(storageDir, row!.videoKey!));
    expect(Math.abs(mp4.durationSec - 1.5)).toBeLessThanOrEqual(0.1);
  });
});
