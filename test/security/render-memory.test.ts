import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegRenderer } from '../../render-farm/index.ts';
import { renderSpecSchema } from '../../shared/render-spec.ts';
import { describeMp4, FFMPEG_BIN, FFPROBE_BIN, FixedAssets } from '../render-farm/media.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

// Issue 15, item 1: an 8192×8192 PNG of a few hundred KB made FFmpeg hold 1.05 GiB per scene
// that used it. Now each distinct image is decoded once, in a pass of its own, and scaled to the
// frame; the video is made in passes sized to a memory budget, and a spec whose estimate is over
// the budget is refused at submit.

const run = promisify(execFile);
const MiB = 1024 * 1024;
const BIG = 8192;

let dir: string;
let bigPng: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reelroom-render-memory-'));
  bigPng = join(dir, 'big.png');
  // testsrc compresses to about 600 KB at this size; decoded it is 192 MiB of RGB.
  await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
    ...['-i', `testsrc=size=${BIG}x${BIG}:rate=1`, '-frames:v', '1', bigPng],
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Peak resident memory (VmHWM) of every process handed to `watch`, polled every 2 ms. VmHWM is a
 * high-water mark, so a poll at any time after the peak still sees it.
 */
function peakMemory() {
  const peaks = new Map<number, number>();
  const timers: NodeJS.Timeout[] = [];
  return {
    peaks,
    watch(pid: number) {
      const timer = setInterval(() => {
        try {
          const status = readFileSync(`/proc/${pid}/status`, 'utf8');
          const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
          if (Number.isFinite(kb)) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kb * 1024));
        } catch {
          clearInterval(timer);
        }
      }, 2);
      timers.push(timer);
    },
    stop() {
      for (const timer of timers) clearInterval(timer);
    },
  };
}

async function frameCount(path: string): Promise<number> {
  const { stdout } = await run(FFPROBE_BIN, [
    ...['-v', 'error', '-count_frames', '-select_streams', 'v:0'],
    ...['-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path],
  ]);
  return Number(stdout.trim());
}

describe('render memory', () => {
  it('renders an 8192×8192 PNG used by 4 scenes with FFmpeg far below the old 4 GiB', async () => {
    const projectId = randomUUID();
    const assets = new FixedAssets();
    const imageId = assets.add(projectId, { id: randomUUID(), kind: 'image', path: bigPng });
    const work = join(dir, 'work-big');
    await mkdir(work);
    const out = join(dir, 'out-big');
    const memory = peakMemory();
    try {
      await new FfmpegRenderer({ workDir: work, threads: 1 }).render({
        spec: renderSpecSchema.parse({
          width: 1280,
          height: 720,
          fps: 25,
          scenes: Array.from({ length: 4 }, (_, i) => ({
            text: `Scene ${i + 1}`,
            durationSec: 1,
            background: { type: 'image', assetId: imageId },
          })),
        }),
        projectId,
        assets,
        videoPath: join(out, 'video.mp4'),
        thumbnailPath: join(out, 'thumb.png'),
        onProcess: (pid) => memory.watch(pid),
      });
    } finally {
      memory.stop();
    }
    const peaks = [...memory.peaks.values()];
    const peak = Math.max(...peaks);
    console.log(
      `[security] render-memory: 8192x8192 PNG in 4 scenes, ${peaks.length} FFmpeg processes, peak ${(peak / MiB).toFixed(0)} MiB (limit 600 MiB; was 4 GiB)`,
    );
    // Every FFmpeg the render started was measured (the image pass, the video pass, the
    // audio pass, the thumbnail), so the peak is not vacuous.
    expect(peaks.length).toBeGreaterThanOrEqual(4);
    expect(peak).toBeLessThan(600 * MiB);

    const mp4 = await describeMp4(join(out, 'video.mp4'));
    expect(mp4.video).toMatchObject({ codec: 'h264', width: 1280, height: 720, pixFmt: 'yuv420p' });
    expect(Math.abs(mp4.durationSec - 4)).toBeLessThanOrEqual(0.05);
    expect(mp4.audio?.codec).toBe('aac');
    expect(await frameCount(join(out, 'video.mp4'))).toBe(100);
  });

  it('makes a long render in passes that join to the frame', async () => {
    const projectId = randomUUID();
    const work = join(dir, 'work-long');
    await mkdir(work);
    const out = join(dir, 'out-long');
    // A budget this small fits only a few 640×360 scenes per pass: 23 scenes take several.
    const renderer = new FfmpegRenderer({ workDir: work, threads: 1, memoryBudgetBytes: 80 * MiB });
    let processes = 0;
    await renderer.render({
      spec: renderSpecSchema.parse({
        width: 640,
        height: 360,
        fps: 30,
        scenes: Array.from({ length: 23 }, (_, i) => ({
          text: `Scene ${i + 1}`,
          durationSec: 0.5 + (i % 3) * 0.1,
          background: { type: 'color', color: i % 2 ? '#203040' : '#405060' },
        })),
      }),
      projectId,
      assets: new FixedAssets(),
      videoPath: join(out, 'video.mp4'),
      thumbnailPath: join(out, 'thumb.png'),
      onProcess: () => {
        processes += 1;
      },
    });
    // Scenes of 0.5, 0.6 and 0.7 s at 30 fps: 15, 18 and 21 frames.
    const seconds = Array.from({ length: 23 }, (_, i) => 0.5 + (i % 3) * 0.1).reduce(
      (sum, s) => sum + s,
      0,
    );
    console.log(
      `[security] render-memory: 23 scenes in ${processes - 2} video passes, ${seconds.toFixed(1)} s`,
    );
    expect(processes).toBeGreaterThan(3);
    expect(await frameCount(join(out, 'video.mp4'))).toBe(Math.round(seconds * 30));
    const mp4 = await describeMp4(join(out, 'video.mp4'));
    expect(Math.abs(mp4.durationSec - seconds)).toBeLessThanOrEqual(0.05);
  });
});

describe('render memory at the API', () => {
  let node: TestNode;

  beforeAll(async () => {
    // A budget of 200 MiB: an 8192×8192 background (256 MiB decoded, at most) does not fit.
    node = await startTestNode({ config: { renderMemoryBudgetBytes: 200 * MiB } });
  });

  afterAll(async () => {
    await node?.close();
  });

  async function project() {
    const owner = await node.signup('Owner');
    const workspaces = (await (
      await node.request('/api/v1/workspaces', { token: owner.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const workspaceId = workspaces.workspaces[0]!.id;
    const created = await node.request('/api/v1/projects', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, title: 'Big image', topic: 'memory' },
    });
    const { project } = (await created.json()) as { project: { id: string } };
    return { token: owner.accessToken, workspaceId, projectId: project.id };
  }

  function upload(projectId: string, token: string, bytes: Buffer) {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(bytes)]), 'image.png');
    return node.request(`/api/v1/projects/${projectId}/assets`, {
      method: 'POST',
      token,
      body: form,
    });
  }

  it('refuses a spec whose estimated memory is over the budget: a 400 naming spec, nothing charged or queued', async () => {
    const { token, workspaceId, projectId } = await project();
    const uploaded = await upload(projectId, token, await readFile(bigPng));
    expect(uploaded.status, await uploaded.clone().text()).toBe(201);
    const { asset } = (await uploaded.json()) as { asset: { id: string } };
    const balance = async () =>
      (await node.services.billing.service.balanceOf(workspaceId)).balance;
    const before = await balance();

    const specs = [1, 4, 200].map((scenes) => ({
      width: 1280,
      height: 720,
      fps: 25,
      scenes: Array.from({ length: scenes }, () => ({
        text: 'big',
        durationSec: 1,
        background: { type: 'image', assetId: asset.id },
      })),
    }));
    let held = 0;
    for (const spec of specs) {
      const response = await node.request(`/api/v1/projects/${projectId}/renders`, {
        method: 'POST',
        token,
        json: { spec },
      });
      const body = (await response.json()) as { error?: { code: string; message: string } };
      expect(response.status).toBe(400);
      expect(body.error?.message).toMatch(/^spec: the render needs an estimated [\d.]+ MiB/);
      expect(body.error?.message).toContain('200.0 MiB');
      held += 1;
    }
    const listed = (await (
      await node.request(`/api/v1/projects/${projectId}/renders`, { token })
    ).json()) as { renders: unknown[] };
    expect(listed.renders).toEqual([]);
    expect(await balance()).toBe(before);
    console.log(`[security] render-memory: ${specs.length} specs over budget tried, ${held} held`);

    // A spec within the budget still goes through.
    const small = await node.request(`/api/v1/projects/${projectId}/renders`, {
      method: 'POST',
      token,
      json: {
        spec: {
          width: 320,
          height: 180,
          fps: 10,
          scenes: [{ text: 'ok', durationSec: 1, background: { type: 'color', color: '#000000' } }],
        },
      },
    });
    expect(small.status).toBe(202);
  });

  it('refuses an upload that would decode to more than 256 MiB, whatever its file size', async () => {
    const { token, projectId } = await project();
    // 8192×8192 with 16 bits per RGBA channel: 512 MiB decoded, a small file.
    const deep = join(dir, 'deep.png');
    await run(FFMPEG_BIN, [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
      ...['-i', `color=c=0x336699:size=${BIG}x${BIG}:rate=1`, '-frames:v', '1'],
      ...['-pix_fmt', 'rgba64be', deep],
    ]);
    const bytes = await readFile(deep);
    expect((await stat(deep)).size).toBeLessThan(10 * MiB);
    const response = await upload(projectId, token, bytes);
    const body = (await response.json()) as { error?: { message: string } };
    console.log(
      `[security] render-memory: a ${(bytes.byteLength / 1024).toFixed(0)} KB PNG of 512 MiB decoded tried, ${response.status === 400 ? 1 : 0} held`,
    );
    expect(response.status).toBe(400);
    expect(body.error?.message).toMatch(/^file: images may decode to at most/);
  });
});
