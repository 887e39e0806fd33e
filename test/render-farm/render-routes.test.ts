import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalFileStorage } from '../../server/storage/index.ts';
import type { RenderWire } from '../../shared/render-spec.ts';
import type { RenderProgressEvent } from '../../shared/socket-events.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { describeMp4, makeImage, makeTone, pngSize } from './media.ts';

// One embedded node (PGlite, in-process queue and workers), as `npm start` runs it. Renders are
// priced at 10 credits per started minute; a new workspace has 50.
let node: TestNode;
let dir: string;
let pngBytes: Buffer;
let wavBytes: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reelroom-routes-test-'));
  pngBytes = await readFile(await makeImage(join(dir, 'bg.png'), '320x240'));
  wavBytes = await readFile(await makeTone(join(dir, 'voice.wav'), 1.2));
  node = await startTestNode({
    config: {
      billing: {
        ...(await import('../../server/billing/billing-settings.ts')).DEFAULT_BILLING_SETTINGS,
        prices: {
          script: { credits: 10, per: 'call' },
          voiceover: { credits: 15, per: 'started_minute' },
          render: { credits: 10, per: 'started_minute' },
          publish: { credits: 5, per: 'call' },
        },
      },
    },
  });
});

afterAll(async () => {
  await node?.close();
  await rm(dir, { recursive: true, force: true });
});

async function json<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** A user with their first workspace and a project in it. */
async function team() {
  const owner = await node.signup('Owner');
  const { workspaces } = await json<{ workspaces: Array<{ id: string }> }>(
    await node.request('/api/v1/workspaces', { token: owner.accessToken }),
    200,
  );
  const workspaceId = workspaces[0]!.id;
  const { project } = await json<{ project: { id: string } }>(
    await node.request('/api/v1/projects', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, title: 'Launch video', topic: 'renders' },
    }),
    201,
  );
  const viewer = await node.signup('Viewer');
  await json(
    await node.request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: viewer.user.email, role: 'viewer' },
    }),
    201,
  );
  return {
    owner: owner.accessToken,
    viewer: viewer.accessToken,
    workspaceId,
    projectId: project.id,
  };
}

function upload(projectId: string, token: string, bytes: Buffer, name = 'file.bin') {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), name);
  return node.request(`/api/v1/projects/${projectId}/assets`, {
    method: 'POST',
    token,
    body: form,
  });
}

function submit(projectId: string, token: string, body: unknown) {
  return node.request(`/api/v1/projects/${projectId}/renders`, {
    method: 'POST',
    token,
    json: body,
  });
}

async function waitForStatus(id: string, token: string, status: string): Promise<RenderWire> {
  let render: RenderWire | undefined;
  await vi.waitFor(
    async () => {
      ({ render } = await json<{ render: RenderWire }>(
        await node.request(`/api/v1/renders/${id}`, { token }),
        200,
      ));
      expect(render.status).toBe(status);
    },
    { timeout: 60_000, interval: 100 },
  );
  return render!;
}

const colour = { type: 'color', color: '#203040' } as const;

/** A render that runs long enough (110 s of video) to be caught queued or running. */
const LONG_RENDER = {
  width: 640,
  height: 360,
  fps: 30,
  scenes: [{ text: 'long', durationSec: 110, background: colour }],
};

describe('assets (REST)', () => {
  it('stores PNG and WAV uploads with the type probed from the content', async () => {
    const { owner, projectId } = await team();
    // The names lie; the content decides.
    const image = await json<{ asset: Record<string, unknown> }>(
      await upload(projectId, owner, pngBytes, 'song.mp3'),
      201,
    );
    expect(image.asset).toMatchObject({
      kind: 'image',
      mediaType: 'image/png',
      width: 320,
      height: 240,
    });
    const raw = await node.request(`/api/v1/projects/${projectId}/assets`, {
      method: 'POST',
      token: owner,
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(wavBytes),
    });
    const audio = await json<{ asset: { kind: string; durationSec: number } }>(raw, 201);
    expect(audio.asset.kind).toBe('audio');
    expect(audio.asset.durationSec).toBeCloseTo(1.2, 1);
    const listed = await json<{ assets: Array<{ id: string }> }>(
      await node.request(`/api/v1/projects/${projectId}/assets`, { token: owner }),
      200,
    );
    expect(listed.assets).toHaveLength(2);
  });

  it('refuses a file that is not a PNG, JPEG, WAV or MP3, whatever its name', async () => {
    const { owner, projectId } = await team();
    const response = await upload(projectId, owner, Buffer.from('#!/bin/sh\necho hi\n'), 'x.png');
    const body = await json<{ error: { code: string; message: string } }>(response, 415);
    expect(body.error.message).toMatch(/^file:/);
    // A PNG signature with nothing behind it passes the magic-number check but not the probe.
    const truncated = await upload(projectId, owner, pngBytes.subarray(0, 40), 'x.png');
    expect((await json<{ error: { message: string } }>(truncated, 400)).error.message).toMatch(
      /file: .*(cannot be decoded|truncated)/,
    );
  });

  it('lets only editors upload, and hides other workspaces', async () => {
    const { viewer, projectId } = await team();
    expect((await upload(projectId, viewer, pngBytes)).status).toBe(403);
    const stranger = await node.signup('Stranger');
    expect((await upload(projectId, stranger.accessToken, pngBytes)).status).toBe(404);
  });
});

describe('renders (REST, embedded workers)', () => {
  it('renders a submitted spec, streams progress to the room and serves the MP4 with ranges', async () => {
    const { owner, viewer, projectId } = await team();
    const image = (
      await json<{ asset: { id: string } }>(await upload(projectId, owner, pngBytes), 201)
    ).asset.id;
    const voice = (
      await json<{ asset: { id: string } }>(await upload(projectId, owner, wavBytes), 201)
    ).asset.id;

    const socket: Socket = io(node.url, { auth: { token: viewer }, transports: ['websocket'] });
    const events: RenderProgressEvent[] = [];
    socket.on('render:progress', (event: RenderProgressEvent) => events.push(event));
    try {
      const joined = await socket.timeout(10_000).emitWithAck('project:join', { projectId });
      expect(joined).toEqual({ ok: true });

      const accepted = await json<{ render: RenderWire }>(
        await submit(projectId, owner, {
          spec: {
            width: 320,
            height: 180,
            fps: 25,
            subtitles: true,
            scenes: [
              { text: 'Hello, "team": [50%]', durationSec: 1, background: colour },
              {
                text: 'Voice-over timed',
                background: { type: 'image', assetId: image },
                voiceoverAssetId: voice,
              },
            ],
          },
        }),
        202,
      );
      expect(accepted.render).toMatchObject({ status: 'queued', projectId, outputUrl: null });
      const done = await waitForStatus(accepted.render.id, viewer, 'completed');
      expect(done).toMatchObject({ progress: 1 });
      expect(done.outputUrl).toMatch(new RegExp(`^/api/v1/renders/${done.id}/output\\?`));
      expect(done.durationSec).toBeCloseTo(2.2, 1);

      await vi.waitFor(() => expect(events.map((e) => e.status)).toContain('completed'), {
        timeout: 5_000,
      });
      const mine = events.filter((event) => event.renderId === done.id);
      expect(mine[0]?.status).toBe('queued');
      expect(mine.some((event) => event.status === 'running')).toBe(true);
      expect(mine.filter((event) => event.status === 'completed')).toHaveLength(1);

      const whole = await node.request(done.outputUrl!, { token: viewer });
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-type')).toBe('video/mp4');
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      const mp4 = Buffer.from(await whole.arrayBuffer());
      expect(mp4.length).toBe(done.bytes);
      await writeFile(join(dir, 'out.mp4'), mp4);
      const described = await describeMp4(join(dir, 'out.mp4'));
      expect(Math.abs(described.durationSec - 2.2)).toBeLessThanOrEqual(0.1);
      expect(described.video).toMatchObject({ codec: 'h264', width: 320, height: 180 });
      expect(described.audio?.codec).toBe('aac');

      const part = await node.request(done.outputUrl!, {
        token: viewer,
        headers: { range: 'bytes=100-199' },
      });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 100-199/${mp4.length}`);
      expect(Buffer.from(await part.arrayBuffer())).toEqual(mp4.subarray(100, 200));
      const suffix = await node.request(done.outputUrl!, {
        token: viewer,
        headers: { range: 'bytes=-10' },
      });
      expect(suffix.status).toBe(206);
      expect(Buffer.from(await suffix.arrayBuffer())).toEqual(mp4.subarray(mp4.length - 10));
      const past = await node.request(done.outputUrl!, {
        token: viewer,
        headers: { range: `bytes=${mp4.length}-` },
      });
      expect(past.status).toBe(416);
      expect(past.headers.get('content-range')).toBe(`bytes */${mp4.length}`);

      const thumb = await node.request(done.thumbnailUrl!, { token: viewer });
      expect(thumb.status).toBe(200);
      await writeFile(join(dir, 'thumb.png'), Buffer.from(await thumb.arrayBuffer()));
      expect(await pngSize(join(dir, 'thumb.png'))).toEqual({ width: 320, height: 180 });

      const list = await json<{ renders: RenderWire[]; nextCursor: string | null }>(
        await node.request(`/api/v1/projects/${projectId}/renders`, { token: viewer }),
        200,
      );
      expect(list.renders.map((render) => render.id)).toEqual([done.id]);
    } finally {
      socket.close();
    }
  });

  it('refuses bad specs with a 400 naming the field', async () => {
    const { owner, projectId } = await team();
    const cases: Array<[unknown, RegExp]> = [
      [
        {
          width: 321,
          height: 180,
          fps: 25,
          scenes: [{ text: 'x', durationSec: 1, background: colour }],
        },
        /spec\.width: must be even/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 25,
          scenes: [{ text: 'x', durationSec: 121, background: colour }],
        },
        /spec\.scenes\.0\.durationSec/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 90,
          scenes: [{ text: 'x', durationSec: 1, background: colour }],
        },
        /spec\.fps/,
      ],
      [
        { width: 320, height: 180, fps: 25, scenes: [{ text: 'x', background: colour }] },
        /spec\.scenes\.0\.durationSec/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 25,
          scenes: [{ text: 'x', durationSec: 1, background: { type: 'color', color: 'red' } }],
        },
        /spec\.scenes\.0\.background/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 25,
          shell: 'rm -rf',
          scenes: [{ text: 'x', durationSec: 1, background: colour }],
        },
        /unknown field 'shell'/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 25,
          scenes: Array.from({ length: 6 }, () => ({
            text: 'x',
            durationSec: 120,
            background: colour,
          })),
        },
        /spec\.scenes: total duration/,
      ],
      [
        {
          width: 320,
          height: 180,
          fps: 25,
          scenes: [
            { text: 'x', durationSec: 1, background: { type: 'image', assetId: randomUUID() } },
          ],
        },
        /spec\.scenes\.0\.background\.assetId: no asset/,
      ],
    ];
    for (const [spec, message] of cases) {
      const body = await json<{ error: { code: string; message: string } }>(
        await submit(projectId, owner, { spec }),
        400,
      );
      expect(body.error.message).toMatch(message);
    }
    const list = await json<{ renders: unknown[] }>(
      await node.request(`/api/v1/projects/${projectId}/renders`, { token: owner }),
      200,
    );
    expect(list.renders).toEqual([]);
  });

  it('lets only editors submit and cancel; other workspaces get 404', async () => {
    const { owner, viewer, projectId } = await team();
    const spec = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: [{ text: 'x', durationSec: 0.5, background: colour }],
    };
    expect((await submit(projectId, viewer, { spec })).status).toBe(403);
    const stranger = (await node.signup('Stranger')).accessToken;
    expect((await submit(projectId, stranger, { spec })).status).toBe(404);
    const { render } = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec }),
      202,
    );
    expect((await node.request(`/api/v1/renders/${render.id}`, { token: stranger })).status).toBe(
      404,
    );
    expect(
      (await node.request(`/api/v1/renders/${render.id}/output`, { token: stranger })).status,
    ).toBe(404);
    expect(
      (await node.request(`/api/v1/renders/${render.id}/cancel`, { method: 'POST', token: viewer }))
        .status,
    ).toBe(403);
    expect(
      (await node.request(`/api/v1/projects/${projectId}/renders`, { token: stranger })).status,
    ).toBe(404);
  });

  it('returns the first render for a repeated idempotency key, charging once', async () => {
    const { owner, projectId, workspaceId } = await team();
    const spec = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: [{ text: 'x', durationSec: 0.5, background: colour }],
    };
    const first = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec, idempotencyKey: 'launch-1' }),
      202,
    );
    const again = await json<{ render: RenderWire }>(
      await node.request(`/api/v1/projects/${projectId}/renders`, {
        method: 'POST',
        token: owner,
        headers: { 'idempotency-key': 'launch-1' },
        json: { spec },
      }),
      202,
    );
    expect(again.render.id).toBe(first.render.id);
    expect((await node.services.billing.service.balanceOf(workspaceId)).balance).toBe(40);
  });

  it('charges at submit, refuses a render the wallet cannot pay with 402, refunds a cancel', async () => {
    const { owner, projectId, workspaceId } = await team();
    const balance = async () =>
      (await node.services.billing.service.balanceOf(workspaceId)).balance;
    // 6 started minutes at 10 credits: more than the 50 a new workspace has.
    const long = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: Array.from({ length: 3 }, () => ({
        text: 'x',
        durationSec: 110,
        background: colour,
      })),
    };
    expect((await submit(projectId, owner, { spec: long })).status).toBe(402);
    expect(await balance()).toBe(50);
    const list = await json<{ renders: unknown[] }>(
      await node.request(`/api/v1/projects/${projectId}/renders`, { token: owner }),
      200,
    );
    expect(list.renders).toEqual([]);

    // 2 started minutes: 20 credits, given back when it is cancelled mid-render.
    const spec = LONG_RENDER;
    const { render } = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec }),
      202,
    );
    expect(await balance()).toBe(30);
    await waitForStatus(render.id, owner, 'running');
    const cancelled = await json<{ render: RenderWire }>(
      await node.request(`/api/v1/renders/${render.id}/cancel`, { method: 'POST', token: owner }),
      200,
    );
    expect(['running', 'cancelled']).toContain(cancelled.render.status);
    await waitForStatus(render.id, owner, 'cancelled');
    await vi.waitFor(async () => expect(await balance()).toBe(50), { timeout: 5_000 });
    const output = await node.request(`/api/v1/renders/${render.id}/output`, { token: owner });
    expect(output.status).toBe(409);
  });
});

describe('deleting a project', () => {
  it('is refused while a render runs, then removes the project with its files', async () => {
    const { owner, projectId } = await team();
    const other = await team();
    const { storage } = node.services;
    const asset = await json<{ asset: { id: string } }>(
      await upload(projectId, owner, pngBytes, 'bg.png'),
      201,
    );
    await json(await upload(other.projectId, other.owner, pngBytes, 'bg.png'), 201);
    const spec = LONG_RENDER;
    const { render } = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec }),
      202,
    );
    await waitForStatus(render.id, owner, 'running');

    const refused = await json<{ error: { code: string; message: string } }>(
      await node.request(`/api/v1/projects/${projectId}`, { method: 'DELETE', token: owner }),
      409,
    );
    expect(refused.error.code).toBe('renders_in_progress');
    expect(refused.error.message).toContain(render.id);
    // Nothing was deleted: the project, its render and its asset are all still there.
    await json(await node.request(`/api/v1/projects/${projectId}`, { token: owner }), 200);
    expect((await waitForStatus(render.id, owner, 'running')).id).toBe(render.id);

    await node.request(`/api/v1/renders/${render.id}/cancel`, { method: 'POST', token: owner });
    await waitForStatus(render.id, owner, 'cancelled');
    const small = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: [
        { text: 'done', durationSec: 0.5, background: { type: 'image', assetId: asset.asset.id } },
      ],
    };
    const { render: finished } = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec: small }),
      202,
    );
    await waitForStatus(finished.id, owner, 'completed');
    const projectFiles = [
      (storage as LocalFileStorage).localPath(`assets/${projectId}`),
      (storage as LocalFileStorage).localPath(`renders/${projectId}`),
    ];
    for (const path of projectFiles) expect((await readdir(path)).length).toBeGreaterThan(0);

    const deleted = await node.request(`/api/v1/projects/${projectId}`, {
      method: 'DELETE',
      token: owner,
    });
    expect(deleted.status).toBe(204);
    expect((await node.request(`/api/v1/renders/${finished.id}`, { token: owner })).status).toBe(
      404,
    );
    await vi.waitFor(async () => {
      for (const path of projectFiles) await expect(stat(path)).rejects.toThrow(/ENOENT/);
    });
    // Another project's files are left alone.
    expect(
      (await readdir((storage as LocalFileStorage).localPath(`assets/${other.projectId}`))).length,
    ).toBe(1);
  });
});

describe('signed links to render files', () => {
  it('opens the MP4 and thumbnail without a header, for one file of one render, until expiry', async () => {
    const { owner, projectId } = await team();
    const spec = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: [{ text: 'linked', durationSec: 1, background: colour }],
    };
    const { render: submitted } = await json<{ render: RenderWire }>(
      await submit(projectId, owner, { spec }),
      202,
    );
    expect(submitted.outputUrl).toBeNull();
    const render = await waitForStatus(submitted.id, owner, 'completed');
    const outputUrl = render.outputUrl!;
    const thumbnailUrl = render.thumbnailUrl!;
    expect(outputUrl).toMatch(
      new RegExp(`^/api/v1/renders/${render.id}/output\\?expires=\\d+&signature=[\\w-]+$`),
    );
    const expires = Number(new URL(outputUrl, node.url).searchParams.get('expires'));
    expect(expires * 1000).toBeGreaterThan(Date.now() + 59 * 60 * 1000);

    // No Authorization header, as a <video src> or <img src> sends it.
    const viaLink = await node.request(outputUrl);
    expect(viaLink.status).toBe(200);
    expect(viaLink.headers.get('content-type')).toBe('video/mp4');
    const viaBearer = await node.request(`/api/v1/renders/${render.id}/output`, { token: owner });
    expect(Buffer.from(await viaLink.arrayBuffer())).toEqual(
      Buffer.from(await viaBearer.arrayBuffer()),
    );
    const ranged = await node.request(outputUrl, { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
    const thumb = await node.request(thumbnailUrl);
    expect(thumb.status).toBe(200);
    const thumbPath = join(dir, `linked-${render.id}.png`);
    await writeFile(thumbPath, Buffer.from(await thumb.arrayBuffer()));
    expect(await pngSize(thumbPath)).toEqual({ width: 160, height: 90 });

    const refused = async (url: string, status: number, message: RegExp) => {
      const body = await json<{ error: { message: string } }>(await node.request(url), status);
      expect(body.error.message).toMatch(message);
    };
    const query = outputUrl.slice(outputUrl.indexOf('?'));
    const signature = new URL(outputUrl, node.url).searchParams.get('signature')!;
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    // A changed signature, another file of the render, a later expiry: none of them open.
    await refused(outputUrl.replace(signature, flipped), 403, /^signature: /);
    await refused(`/api/v1/renders/${render.id}/thumbnail${query}`, 403, /^signature: /);
    await refused(
      outputUrl.replace(`expires=${expires}`, `expires=${expires + 300}`),
      403,
      /^signature: /,
    );
    // An expired link, signed with the node's own secret two hours ago.
    const old = node.services.renderLinks.url(render.id, 'output', Date.now() - 2 * 3600_000);
    await refused(old, 403, /^expires: the link expired/);
    await refused(`/api/v1/renders/${render.id}/output?signature=${signature}`, 400, /expires/);
    // Without a link or a token, the files stay closed.
    expect((await node.request(`/api/v1/renders/${render.id}/output`)).status).toBe(401);
  });
});
