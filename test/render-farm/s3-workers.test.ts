import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import { RedisJobQueue, type RenderJobData, renderQueuePrefix } from '../../render-farm/index.ts';
import { type RenderSpecInput, renderSpecSchema } from '../../shared/render-spec.ts';
import { openTestPostgres } from '../support/databases.ts';
import { startTestS3 } from '../support/s3-server.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { composeRenders } from './compose-renders.ts';
import { describeMp4, makeImage, makeTone } from './media.ts';
import { seedAsset, seedProject } from './seed.ts';
import { startWorker, type WorkerProcess } from './worker-processes.ts';

// Two standalone worker processes, each with a directory of its own, sharing nothing but
// Postgres, Redis and an S3 bucket (s3rver on port 0): inputs come from the bucket, outputs go
// to it, and the test reads them from there only.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('render workers on object storage', () => {
  it('two workers with separate scratch directories render from and to the bucket', async () => {
    const database = await openTestPostgres();
    const s3 = await startTestS3();
    const prefix = `test-${randomUUID()}`;
    const bucket = s3.storage(prefix);
    const local = await mkdtemp(join(tmpdir(), 'reelroom-s3-workers-'));
    const redisKeyPrefix = `test-${randomUUID()}`;
    const queue = new RedisJobQueue<RenderJobData>({
      redis: redisConnectionFactory({ url: TEST_REDIS_URL }),
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
      await s3.close();
      await rm(local, { recursive: true, force: true });
    });

    // The inputs exist only in the bucket.
    const project = await seedProject(database.db);
    await makeImage(join(local, 'bg.png'));
    await makeTone(join(local, 'tone.wav'), 2);
    const imageKey = `assets/${project.projectId}/bg.png`;
    const audioKey = `assets/${project.projectId}/tone.wav`;
    await bucket.upload(imageKey, join(local, 'bg.png'));
    await bucket.upload(audioKey, join(local, 'tone.wav'));
    const imageId = await seedAsset(database.db, project.projectId, 'image', imageKey);
    const audioId = await seedAsset(database.db, project.projectId, 'audio', audioKey);

    const dirs = ['a', 'b'].map((name) => ({
      data: join(local, `worker-${name}`),
      scratch: join(local, `worker-${name}-scratch`),
    }));
    for (const dir of dirs) {
      workers.push(
        await startWorker({
          ...s3.env(prefix),
          DATABASE_URL: database.url,
          REDIS_URL: TEST_REDIS_URL,
          STORAGE_DIR: dir.data,
          SCRATCH_DIR: dir.scratch,
          REDIS_KEY_PREFIX: redisKeyPrefix,
          LEASE_MS: '3000',
          HEARTBEAT_MS: '300',
        }),
      );
    }

    const spec: RenderSpecInput = {
      width: 640,
      height: 360,
      fps: 25,
      scenes: [
        {
          text: 'From the bucket',
          durationSec: 4,
          background: { type: 'image', assetId: imageId },
          voiceoverAssetId: audioId,
        },
      ],
    };
    const submitted = await Promise.all(
      [0, 1].map(() => renders.service.submit({ ...project, spec: renderSpecSchema.parse(spec) })),
    );
    const ids = submitted.map(({ render }) => render.id);
    await vi.waitFor(
      async () => {
        for (const id of ids)
          expect((await renders.service.store.get(id))?.status).toBe('completed');
      },
      { timeout: 120_000, interval: 250 },
    );

    // Each worker rendered one: both read their inputs from the bucket.
    await vi.waitFor(() => {
      const byWorker = workers.map((worker) =>
        worker.logs.filter((log) => log.msg === 'render settled' && log.outcome === 'completed'),
      );
      expect(byWorker.map((logs) => logs.length)).toEqual([1, 1]);
    });
    for (const id of ids) {
      const row = await renders.service.store.get(id);
      const copy = join(local, 'downloaded', `${id}.mp4`);
      await bucket.localCopy(row!.videoKey!, copy);
      const mp4 = await describeMp4(copy);
      expect(Math.abs(mp4.durationSec - 4)).toBeLessThanOrEqual(0.1);
      expect(mp4.video).toMatchObject({ codec: 'h264', width: 640, height: 360 });
      expect(mp4.audio?.codec).toBe('aac');
      expect((await bucket.stat(row!.thumbnailKey!))?.bytes).toBeGreaterThan(0);
    }
    // Nothing was written to the workers' own storage directories, and their scratch
    // directories are empty again.
    for (const dir of dirs) {
      expect(await readdir(dir.data).catch(() => [])).toEqual([]);
      expect(await readdir(dir.scratch).catch(() => [])).toEqual([]);
    }
  });
});
