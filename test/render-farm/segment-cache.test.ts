import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegRenderer } from '../../render-farm/index.ts';
import { type RenderSpecInput, renderSpecSchema } from '../../shared/render-spec.ts';
import { describeMp4, FixedAssets } from './media.ts';

// A re-render after one scene's edit encodes that scene only: the others come from the
// segment cache, and the joined video is as long as a full encode of the edited spec.

let dir: string;
const projectId = randomUUID();
const assets = new FixedAssets();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reelroom-segments-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const colour = { type: 'color', color: '#224466' } as const;
const spec = (third: string): RenderSpecInput => ({
  width: 320,
  height: 180,
  fps: 25,
  scenes: [
    { text: 'One', durationSec: 1, background: colour },
    { text: 'Two', durationSec: 1.2, background: colour },
    { text: third, durationSec: 0.8, background: colour },
    { text: 'Four', durationSec: 1, background: colour },
  ],
});

/** Renders and counts the segments it added to the cache. */
async function render(renderer: FfmpegRenderer, input: RenderSpecInput) {
  const name = randomUUID();
  const before = new Set(await readdir(join(dir, 'cache')).catch(() => []));
  const result = await renderer.render({
    spec: renderSpecSchema.parse(input),
    projectId,
    assets,
    videoPath: join(dir, `${name}.mp4`),
    thumbnailPath: join(dir, `${name}.png`),
  });
  const after = await readdir(join(dir, 'cache')).catch(() => []);
  return { result, added: after.filter((entry) => !before.has(entry)).length };
}

describe('segment cache', () => {
  it('re-encodes only the edited scene, and the joined video loses no frame', async () => {
    const cached = new FfmpegRenderer({ threads: 1, segmentCacheDir: join(dir, 'cache') });
    const first = await render(cached, spec('Three'));
    expect(first.added).toBe(4);
    const again = await render(cached, spec('Three, edited'));
    // One new segment: the edited scene's.
    expect(again.added).toBe(1);
    const probe = await describeMp4(again.result.videoPath);
    expect(Math.abs(probe.durationSec - 4)).toBeLessThanOrEqual(0.1);
    expect(probe.video).toMatchObject({ codec: 'h264', width: 320, height: 180 });

    // The same spec without the cache lasts exactly as long: the joined segments lose no frame.
    const full = new FfmpegRenderer({ threads: 1 });
    const plain = await render(full, spec('Three, edited'));
    expect(plain.added).toBe(0);
    expect((await describeMp4(plain.result.videoPath)).durationSec).toBeCloseTo(
      probe.durationSec,
      2,
    );
  });
});
