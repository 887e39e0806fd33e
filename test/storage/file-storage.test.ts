import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FileStorage, fileResponse, LocalFileStorage } from '../../server/storage/index.ts';
import { startTestS3, type TestS3 } from '../support/s3-server.ts';

// One contract, two backends: the local directory and S3 (a real S3-protocol server, s3rver,
// on port 0 with its bucket in a temporary directory).

let s3: TestS3;
let scratch: string;
beforeAll(async () => {
  s3 = await startTestS3();
  scratch = await mkdtemp(join(tmpdir(), 'reelroom-storage-test-'));
});
afterAll(async () => {
  await s3?.close();
  await rm(scratch, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<FileStorage>]> = [
  ['local', async () => new LocalFileStorage({ root: await mkdtemp(join(scratch, 'local-')) })],
  ['s3', async () => s3.storage(`test-${randomUUID()}`)],
];

async function keysUnder(storage: FileStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const file of storage.list(prefix)) keys.push(file.key);
  return keys.sort();
}

describe.each(backends)('FileStorage (%s)', (kind, open) => {
  it('writes bytes and streams, stats and reads them back, whole and by range', async () => {
    const storage = await open();
    expect(storage.kind).toBe(kind);
    const data = Buffer.from('0123456789abcdef');
    const info = await storage.write('assets/p1/a.txt', data, { contentType: 'text/plain' });
    expect(info.bytes).toBe(16);
    expect((await storage.stat('assets/p1/a.txt'))?.bytes).toBe(16);
    expect(await storage.stat('assets/p1/missing.txt')).toBeNull();
    expect((await buffer(storage.read('assets/p1/a.txt'))).toString()).toBe('0123456789abcdef');
    expect((await buffer(storage.read('assets/p1/a.txt', { start: 3, end: 6 }))).toString()).toBe(
      '3456',
    );
    await storage.write('assets/p1/b.txt', Readable.from([Buffer.from('str'), Buffer.from('eam')]));
    expect((await buffer(storage.read('assets/p1/b.txt'))).toString()).toBe('stream');
  });

  it('uploads a file over 5 MiB (multipart on S3) and copies it down intact', async () => {
    const storage = await open();
    const source = join(scratch, `${randomUUID()}.bin`);
    const data = randomBytes(12 * 1024 * 1024 + 123);
    await writeFile(source, data);
    const info = await storage.upload('renders/p1/r1.mp4', source, { contentType: 'video/mp4' });
    expect(info.bytes).toBe(data.byteLength);
    const copy = join(scratch, 'copies', `${randomUUID()}.bin`);
    await storage.localCopy('renders/p1/r1.mp4', copy);
    expect((await readFile(copy)).equals(data)).toBe(true);
    const tail = await buffer(
      storage.read('renders/p1/r1.mp4', { start: data.byteLength - 10, end: data.byteLength - 1 }),
    );
    expect(tail.equals(data.subarray(-10))).toBe(true);
    // A move gives the source away.
    await storage.upload('renders/p1/r2.mp4', source, { move: true });
    await expect(stat(source)).rejects.toThrow();
    expect((await storage.stat('renders/p1/r2.mp4'))?.bytes).toBe(data.byteLength);
  });

  it('serves ranges through fileResponse', async () => {
    const storage = await open();
    await storage.write('renders/p2/r.mp4', Buffer.from('abcdefghij'));
    const response = await fileResponse(storage, 'renders/p2/r.mp4', {
      contentType: 'video/mp4',
      range: 'bytes=2-4',
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await response.text()).toBe('cde');
    const suffix = await fileResponse(storage, 'renders/p2/r.mp4', {
      contentType: 'video/mp4',
      range: 'bytes=-3',
    });
    expect(await suffix.text()).toBe('hij');
  });

  it('lists by prefix, removes one file and everything under a prefix', async () => {
    const storage = await open();
    for (const key of [
      'assets/p1/a.png',
      'assets/p1/b.wav',
      'assets/p10/c.png',
      'renders/p1/r.mp4',
    ]) {
      await storage.write(key, Buffer.from(key));
    }
    expect(await keysUnder(storage, 'assets/p1')).toEqual(['assets/p1/a.png', 'assets/p1/b.wav']);
    expect(await keysUnder(storage, '')).toHaveLength(4);
    await storage.remove('assets/p1/a.png');
    await storage.remove('assets/p1/a.png');
    expect(await keysUnder(storage, 'assets/p1')).toEqual(['assets/p1/b.wav']);
    await storage.removeAll('assets/p1');
    await storage.removeAll('assets/nothing-here');
    // `assets/p10` shares the first characters, not the prefix.
    expect(await keysUnder(storage, '')).toEqual(['assets/p10/c.png', 'renders/p1/r.mp4']);
  });

  it('refuses keys that leave the root', async () => {
    const storage = await open();
    await expect(storage.write('../escape.txt', Buffer.from('x'))).rejects.toThrow(RangeError);
    await expect(storage.removeAll('')).rejects.toThrow(RangeError);
  });

  it('signs URLs only where the backend serves them itself', async () => {
    const storage = await open();
    await storage.write('renders/p3/r.png', Buffer.from('png bytes'));
    const url = await storage.signedUrl('renders/p3/r.png', {
      expiresAt: new Date(Date.now() + 60_000),
      contentType: 'image/png',
    });
    if (kind === 'local') {
      expect(url).toBeNull();
      return;
    }
    const response = await fetch(url!, { headers: { Range: 'bytes=0-2' } });
    expect(response.status).toBe(206);
    expect(await response.text()).toBe('png');
    // The bucket checks the URL's own signature (s3rver does not); ours are the render links'.
    const expiresIn = Number(new URL(url!).searchParams.get('X-Amz-Expires'));
    expect(expiresIn).toBeGreaterThanOrEqual(59);
    expect(expiresIn).toBeLessThanOrEqual(60);
  });
});
