// bench/storage: a 30 s 720p render with its inputs and outputs in S3-compatible object storage
// (s3rver, a real S3-protocol server on this machine) against the same render on the local
// directory, in the same run: interleaved rounds (local, s3, local, s3, ...), each a submit
// through the RenderService to a completed row, the worker downloading the image and the
// voice-over into its scratch directory and uploading the MP4 and the thumbnail. Reports the
// median time of each and the median of the per-round ratios (target <= 1.10).
//
//   npm run bench:storage [-- --rounds 3]
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  FfmpegRenderer,
  MemoryJobQueue,
  type RenderJobData,
  RenderWorkerPool,
} from '../../render-farm/index.ts';
import { DbAssetResolver } from '../../server/renders/index.ts';
import { type FileStorage, LocalFileStorage } from '../../server/storage/index.ts';
import { renderSpecSchema } from '../../shared/render-spec.ts';
import { composeRenders } from '../../test/render-farm/compose-renders.ts';
import { makeImage, makeTone } from '../../test/render-farm/media.ts';
import { seedAsset, seedProject } from '../../test/render-farm/seed.ts';
import { openTestPostgres } from '../../test/support/databases.ts';
import { startTestS3 } from '../../test/support/s3-server.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), 'reelroom-bench-storage-'));
  const database = await openTestPostgres();
  const s3 = await startTestS3();
  const backends: Record<'local' | 's3', FileStorage> = {
    local: new LocalFileStorage({ root: path.join(dir, 'storage') }),
    s3: s3.storage(`bench-${randomUUID()}`),
  };
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const project = await seedProject(database.db);
    const image = await makeImage(path.join(dir, 'bg.png'), '1920x1080');
    const tone = await makeTone(path.join(dir, 'voice.wav'), 30);
    const lanes = {} as Record<
      'local' | 's3',
      { submit: () => Promise<string>; done: (id: string) => Promise<void> }
    >;
    for (const [name, storage] of Object.entries(backends) as Array<
      ['local' | 's3', FileStorage]
    >) {
      const imageKey = `assets/${project.projectId}/${name}-bg.png`;
      const toneKey = `assets/${project.projectId}/${name}-voice.wav`;
      await storage.upload(imageKey, image);
      await storage.upload(toneKey, tone);
      const imageId = await seedAsset(database.db, project.projectId, 'image', imageKey);
      const toneId = await seedAsset(database.db, project.projectId, 'audio', toneKey);
      const queue = new MemoryJobQueue<RenderJobData>();
      const renders = composeRenders({ db: database.db, queue });
      const pool = new RenderWorkerPool({
        queue,
        store: renders.service.store,
        renderer: new FfmpegRenderer(),
        assets: new DbAssetResolver({ db: database.db }),
        files: storage,
        scratchDir: path.join(dir, `scratch-${name}`),
        pollMs: 50,
        storeProgressIntervalMs: 60_000,
      }).start();
      closers.push(
        () => pool.close(),
        () => renders.close(),
        () => queue.close(),
      );
      const spec = renderSpecSchema.parse({
        width: 1280,
        height: 720,
        fps: 25,
        scenes: [
          {
            text: `Thirty seconds on ${name} storage`,
            durationSec: 30,
            background: { type: 'image', assetId: imageId },
            voiceoverAssetId: toneId,
          },
        ],
      });
      lanes[name] = {
        submit: async () => (await renders.service.submit({ ...project, spec })).render.id,
        async done(id) {
          for (;;) {
            const row = await renders.service.store.get(id);
            if (row?.status === 'completed') return;
            if (row && row.status !== 'queued' && row.status !== 'running') {
              throw new Error(`render ${id} ended ${row.status}: ${row.error}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        },
      };
    }

    const times: Record<'local' | 's3', number[]> = { local: [], s3: [] };
    const ratios: number[] = [];
    // One unmeasured render each first: FFmpeg's and the SDK's first runs are slower.
    for (const name of ['local', 's3'] as const) await lanes[name].done(await lanes[name].submit());
    for (let round = 0; round < rounds; round += 1) {
      // Alternating which goes first, so neither gets the warmer machine every time.
      const order = round % 2 === 0 ? (['local', 's3'] as const) : (['s3', 'local'] as const);
      const took: Partial<Record<'local' | 's3', number>> = {};
      for (const name of order) {
        const started = performance.now();
        await lanes[name].done(await lanes[name].submit());
        took[name] = (performance.now() - started) / 1000;
        times[name].push(took[name]);
      }
      ratios.push(took.s3! / took.local!);
      console.log(
        `round ${round + 1}: local ${took.local!.toFixed(2)} s, s3 ${took.s3!.toFixed(2)} s, ratio ${(took.s3! / took.local!).toFixed(3)}`,
      );
    }
    console.log('\nbench:storage, 30 s 1280x720 render (image + voice-over in, MP4 + PNG out)');
    console.log(`  local directory   median ${median(times.local).toFixed(2)} s`);
    console.log(`  S3 (s3rver)       median ${median(times.s3).toFixed(2)} s`);
    const ratio = median(ratios);
    console.log(
      `  median ratio s3/local ${ratio.toFixed(3)} (target <= 1.10) ${ratio <= 1.1 ? 'OK' : 'OVER'}`,
    );
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await s3.close();
    await database.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
