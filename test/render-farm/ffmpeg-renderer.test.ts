import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  FfmpegRenderer,
  RenderAbortedError,
  type RenderProgress,
  RenderTimeoutError,
  UnrecoverableError,
} from '../../render-farm/index.ts';
import type { RenderSpecInput } from '../../shared/render-spec.ts';
import { renderSpecSchema } from '../../shared/render-spec.ts';
import { describeMp4, FixedAssets, isAlive, makeImage, makeTone, pngSize } from './media.ts';

const HOSTILE_TEXT = [
  `He said "it's fine": yes, [really] {maybe}`,
  String.raw`back\slash \N \n \\ \' ; a=b`,
  '%{localtime} %{pts} %{eif:1:d} %%',
  "textfile=/etc/passwd:fontfile=/etc/passwd' , [x]drawtext=text=pwned",
  'Unicode: café — 你好',
].join('\n');

let dir: string;
let work: string;
const projectId = randomUUID();
const assets = new FixedAssets();
let imageId: string;
let voiceId: string;
let musicId: string;
let renderer: FfmpegRenderer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reelroom-renderer-test-'));
  work = join(dir, 'work');
  await import('node:fs/promises').then((fs) => fs.mkdir(work));
  imageId = assets.add(projectId, {
    id: randomUUID(),
    kind: 'image',
    path: await makeImage(join(dir, 'image.png')),
  });
  voiceId = assets.add(projectId, {
    id: randomUUID(),
    kind: 'audio',
    path: await makeTone(join(dir, 'voice.wav'), 1.3),
  });
  musicId = assets.add(projectId, {
    id: randomUUID(),
    kind: 'audio',
    path: await makeTone(join(dir, 'music.wav'), 0.7, 220),
  });
  renderer = new FfmpegRenderer({ workDir: work, threads: 1 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function outputs(name = randomUUID()) {
  const out = join(dir, 'out', name);
  return { videoPath: join(out, 'video.mp4'), thumbnailPath: join(out, 'thumb.png'), out };
}

function spec(input: RenderSpecInput) {
  return renderSpecSchema.parse(input);
}

describe('FfmpegRenderer', () => {
  it('renders colour and image scenes with voice-over and music into a checked MP4', async () => {
    const paths = outputs();
    const progress: RenderProgress[] = [];
    const result = await renderer.render({
      spec: spec({
        width: 320,
        height: 180,
        fps: 25,
        scenes: [
          { text: 'First scene', durationSec: 1, background: { type: 'color', color: '#336699' } },
          {
            text: 'Timed by its voice-over',
            background: { type: 'image', assetId: imageId },
            voiceoverAssetId: voiceId,
          },
        ],
        musicAssetId: musicId,
      }),
      projectId,
      assets,
      ...paths,
      onProgress: (event) => progress.push(event),
    });

    expect(result.durationSec).toBeCloseTo(2.3, 5);
    const mp4 = await describeMp4(paths.videoPath);
    expect(Math.abs(mp4.durationSec - 2.3)).toBeLessThanOrEqual(0.1);
    expect(mp4.video).toEqual({
      codec: 'h264',
      width: 320,
      height: 180,
      pixFmt: 'yuv420p',
      frameRate: '25/1',
    });
    expect(mp4.audio).toEqual({ codec: 'aac', sampleRate: '48000' });
    expect(mp4.faststart).toBe(true);
    expect(await pngSize(paths.thumbnailPath)).toEqual({ width: 320, height: 180 });
    expect(result.bytes).toBe((await stat(paths.videoPath)).size);

    expect(progress.at(-1)?.progress).toBe(1);
    const values = progress.map((event) => event.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.every((value) => value >= 0 && value <= 1)).toBe(true);
    // Only the two outputs are left: no temporary names, no work directory.
    expect((await readdir(paths.out)).sort()).toEqual(['thumb.png', 'video.mp4']);
    expect(await readdir(work)).toEqual([]);
  });

  it('gives a render without any audio asset a silent audio track', async () => {
    const paths = outputs();
    await renderer.render({
      spec: spec({
        width: 160,
        height: 90,
        fps: 10,
        scenes: [{ text: '', durationSec: 1, background: { type: 'color', color: '#000000' } }],
      }),
      projectId,
      assets,
      ...paths,
    });
    const mp4 = await describeMp4(paths.videoPath);
    expect(Math.abs(mp4.durationSec - 1)).toBeLessThanOrEqual(0.1);
    expect(mp4.audio?.codec).toBe('aac');
  });

  it.each([{ subtitles: false }, { subtitles: true }])(
    'renders hostile scene text verbatim without touching other files (subtitles $subtitles)',
    async ({ subtitles }) => {
      const canary = join(dir, `canary-${randomUUID()}.txt`);
      await writeFile(canary, 'canary');
      const before = await stat(canary);
      const paths = outputs();
      await renderer.render({
        spec: spec({
          width: 320,
          height: 180,
          fps: 10,
          subtitles,
          scenes: [
            { text: HOSTILE_TEXT, durationSec: 1, background: { type: 'color', color: '#202020' } },
            {
              text: `textfile=${canary}`,
              durationSec: 0.5,
              background: { type: 'image', assetId: imageId },
            },
          ],
        }),
        projectId,
        assets,
        ...paths,
      });
      const mp4 = await describeMp4(paths.videoPath);
      expect(Math.abs(mp4.durationSec - 1.5)).toBeLessThanOrEqual(0.1);
      expect((await readdir(paths.out)).sort()).toEqual(['thumb.png', 'video.mp4']);
      expect(await readFile(canary, 'utf8')).toBe('canary');
      expect((await stat(canary)).mtimeMs).toBe(before.mtimeMs);
      expect(await readdir(work)).toEqual([]);
    },
  );

  it('refuses an asset of another project as unrecoverable, naming the field', async () => {
    const render = renderer.render({
      spec: spec({
        width: 160,
        height: 90,
        fps: 10,
        scenes: [
          { text: 'x', background: { type: 'color', color: '#000000' }, voiceoverAssetId: voiceId },
        ],
      }),
      projectId: randomUUID(),
      assets,
      ...outputs(),
    });
    await expect(render).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(render).rejects.toThrow(/scenes\.0\.voiceoverAssetId/);
  });

  it('kills FFmpeg within a second of an abort and leaves no output', async () => {
    const paths = outputs();
    const controller = new AbortController();
    let pid: number | undefined;
    const render = renderer.render({
      spec: spec({
        width: 640,
        height: 360,
        fps: 30,
        scenes: [
          { text: 'long', durationSec: 120, background: { type: 'color', color: '#112233' } },
        ],
      }),
      projectId,
      assets,
      ...paths,
      signal: controller.signal,
      onProcess: (started) => {
        pid = started;
      },
    });
    await vi.waitFor(() => expect(pid).toBeDefined(), { timeout: 10_000 });
    controller.abort('cancelled');
    await expect(render).rejects.toBeInstanceOf(RenderAbortedError);
    await vi.waitFor(() => expect(isAlive(pid!)).toBe(false), { timeout: 1_000, interval: 20 });
    expect(await readdir(paths.out)).toEqual([]);
  });

  it('kills FFmpeg at the wall-clock limit', async () => {
    const limited = new FfmpegRenderer({ workDir: work, threads: 1, timeoutMs: 500 });
    const paths = outputs();
    await expect(
      limited.render({
        spec: spec({
          width: 640,
          height: 360,
          fps: 30,
          scenes: [
            { text: 'long', durationSec: 120, background: { type: 'color', color: '#112233' } },
          ],
        }),
        projectId,
        assets,
        ...paths,
      }),
    ).rejects.toBeInstanceOf(RenderTimeoutError);
    expect(await readdir(paths.out)).toEqual([]);
  });
});
