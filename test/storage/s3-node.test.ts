import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { orphanSweepPass, type S3FileStorage } from '../../server/storage/index.ts';
import { makeImage } from '../render-farm/media.ts';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../support/s3-server.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

// An embedded node (PGlite, in-process workers) whose every file lives in an S3 bucket
// (s3rver on port 0): uploads, render outputs, serving, signed links, deletion and the sweep.

let s3: TestS3;
let node: TestNode;
let bucket: S3FileStorage;
let dir: string;
const prefix = `node-${randomUUID()}`;

beforeAll(async () => {
  s3 = await startTestS3();
  bucket = s3.storage(prefix);
  dir = await mkdtemp(join(tmpdir(), 'reelroom-s3-node-'));
  // The node's client takes its credentials from the SDK's default chain, as in production.
  vi.stubEnv('AWS_ACCESS_KEY_ID', S3RVER_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', S3RVER_CREDENTIALS.secretAccessKey);
  node = await startTestNode({
    config: {
      storageUrl: `s3://${s3.bucket}/${prefix}`,
      s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
    },
  });
});

afterAll(async () => {
  await node?.close();
  await s3?.close();
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

async function json<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return JSON.parse(text) as T;
}

async function keys(under: string): Promise<string[]> {
  const found: string[] = [];
  for await (const file of bucket.list(under)) found.push(file.key);
  return found.sort();
}

describe('configuration of object storage', () => {
  it('reads STORAGE_URL and S3_*, and names an invalid one', () => {
    const config = loadConfig({
      DATA_DIR: dir,
      STORAGE_URL: 's3://media-bucket/reelroom/prod',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config.storageUrl).toBe('s3://media-bucket/reelroom/prod');
    expect(config.s3).toMatchObject({
      endpoint: 'http://minio:9000',
      region: 'us-east-1',
      forcePathStyle: true,
    });
    for (const [env, variable] of [
      [{ STORAGE_URL: 'https://bucket/x' }, 'STORAGE_URL'],
      [{ STORAGE_URL: 's3://Bad_Bucket' }, 'STORAGE_URL'],
      [{ S3_ENDPOINT: 'not a url' }, 'S3_ENDPOINT'],
      [{ S3_FORCE_PATH_STYLE: 'maybe' }, 'S3_FORCE_PATH_STYLE'],
    ] as const) {
      expect(() => loadConfig({ DATA_DIR: dir, ...env })).toThrow(ConfigError);
      expect(() => loadConfig({ DATA_DIR: dir, ...env })).toThrow(
        new RegExp(`^Invalid configuration: ${variable}: [^\\n]+$`),
      );
    }
  });
});

describe('a node on S3 storage', () => {
  it('stores uploads and renders in the bucket, serves ranges and redirects signed links', async () => {
    const owner = await node.signup('Owner');
    const token = owner.accessToken;
    const { workspaces } = await json<{ workspaces: Array<{ id: string }> }>(
      await node.request('/api/v1/workspaces', { token }),
      200,
    );
    const { project } = await json<{ project: { id: string } }>(
      await node.request('/api/v1/projects', {
        method: 'POST',
        token,
        json: { workspaceId: workspaces[0]!.id, title: 'On S3', topic: 'storage' },
      }),
      201,
    );
    const form = new FormData();
    const png = await readFile(await makeImage(join(dir, 'bg.png'), '320x240'));
    form.set('file', new Blob([new Uint8Array(png)]), 'bg.png');
    const { asset } = await json<{ asset: { id: string } }>(
      await node.request(`/api/v1/projects/${project.id}/assets`, {
        method: 'POST',
        token,
        body: form,
      }),
      201,
    );
    expect(await keys(`assets/${project.id}`)).toHaveLength(1);

    const spec = {
      width: 160,
      height: 90,
      fps: 10,
      scenes: [{ text: 's3', durationSec: 1, background: { type: 'image', assetId: asset.id } }],
    };
    const { render: submitted } = await json<{ render: { id: string } }>(
      await node.request(`/api/v1/projects/${project.id}/renders`, {
        method: 'POST',
        token,
        json: { spec },
      }),
      202,
    );
    let render: { status: string; outputUrl: string | null; thumbnailUrl: string | null } = {
      status: 'queued',
      outputUrl: null,
      thumbnailUrl: null,
    };
    await vi.waitFor(
      async () => {
        ({ render } = await json<{ render: typeof render }>(
          await node.request(`/api/v1/renders/${submitted.id}`, { token }),
          200,
        ));
        expect(render.status).toBe('completed');
      },
      { timeout: 60_000, interval: 100 },
    );
    expect(await keys(`renders/${project.id}`)).toEqual([
      `renders/${project.id}/${submitted.id}.mp4`,
      `renders/${project.id}/${submitted.id}.png`,
    ]);

    // With a token: the node streams from the bucket, ranges included.
    const ranged = await node.request(`/api/v1/renders/${submitted.id}/output`, {
      token,
      headers: { range: 'bytes=0-99' },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toMatch(/^bytes 0-99\/\d+$/);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);

    // Through a signed link: a redirect to a presigned URL that expires with the link.
    const outputUrl = render.outputUrl!;
    const redirect = await fetch(new URL(outputUrl, node.url), { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location')!);
    expect(location.origin).toBe(s3.endpoint);
    const expires = Number(new URL(outputUrl, node.url).searchParams.get('expires'));
    const signedAt = location.searchParams.get('X-Amz-Date')!;
    const signedMs = Date.parse(
      signedAt.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    const presignedEnd = signedMs + Number(location.searchParams.get('X-Amz-Expires')) * 1000;
    expect(Math.abs(presignedEnd - expires * 1000)).toBeLessThanOrEqual(2_000);
    const fromBucket = await fetch(location, { headers: { range: 'bytes=0-9' } });
    expect(fromBucket.status).toBe(206);
    expect(fromBucket.headers.get('content-type')).toBe('video/mp4');
    expect((await fromBucket.arrayBuffer()).byteLength).toBe(10);
    const thumb = await fetch(new URL(render.thumbnailUrl!, node.url), { redirect: 'manual' });
    expect(thumb.status).toBe(302);

    // The refusals stay: another file, a changed signature, an expired link.
    const query = outputUrl.slice(outputUrl.indexOf('?'));
    const signature = new URL(outputUrl, node.url).searchParams.get('signature')!;
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const refusedWith = async (url: string) =>
      (await fetch(new URL(url, node.url), { redirect: 'manual' })).status;
    expect(await refusedWith(`/api/v1/renders/${submitted.id}/thumbnail${query}`)).toBe(403);
    expect(await refusedWith(outputUrl.replace(signature, flipped))).toBe(403);
    const old = node.services.renderLinks.url(submitted.id, 'output', Date.now() - 2 * 3600_000);
    expect(await refusedWith(old)).toBe(403);

    // Deleting the project deletes its objects.
    const other = `assets/${randomUUID()}/keep.png`;
    await bucket.write(other, png);
    expect(
      (await node.request(`/api/v1/projects/${project.id}`, { method: 'DELETE', token })).status,
    ).toBe(204);
    await vi.waitFor(
      async () => {
        expect(await keys(`assets/${project.id}`)).toEqual([]);
        expect(await keys(`renders/${project.id}`)).toEqual([]);
      },
      { timeout: 10_000, interval: 100 },
    );

    // The sweep: an object no row refers to goes once past the grace period.
    const orphanRender = `renders/${randomUUID()}/${randomUUID()}.mp4`;
    await bucket.write(orphanRender, Buffer.from('half a render'));
    const sweep = orphanSweepPass({
      db: node.services.database.db,
      storage: bucket,
      graceMs: 60_000,
    });
    expect(await sweep.run(new Date())).toEqual([]);
    const repairs = await sweep.run(new Date(Date.now() + 120_000));
    expect(repairs.map((repair) => repair.id).sort()).toEqual([other, orphanRender].sort());
    expect(await keys('')).toEqual([]);
  });
});
