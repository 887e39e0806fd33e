import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import type { LocalFileStorage } from '../../server/storage/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { api, json, smallPng } from './support/route-table.ts';
import { Tally } from './support.ts';

// Issue 15, item 5: hostile uploads to `POST /projects/:id/assets`: images that declare huge
// dimensions, polyglots, and multipart bodies cut short. Each is a 4xx naming `file`, with no
// asset row and no file left in the storage directory.

const BOUNDARY = 'reelroom-hostile';

let node: TestNode;
let owner: Session;
let projectId: string;
let png: Buffer;

beforeAll(async () => {
  node = await startTestNode({ config: { renderWorkers: false, pipeline: { workers: false } } });
  owner = await node.signup('Uploader');
  const workspaces = await json(await api(node, owner, '/workspaces'));
  const created = await json(
    await api(node, owner, '/projects', {
      method: 'POST',
      json: { workspaceId: workspaces.workspaces[0].id, title: 'Hostile', topic: 'Uploads' },
    }),
  );
  projectId = created.project.id;
  png = await smallPng();
}, 60_000);
afterAll(() => node?.close());

/** `png` with its IHDR declaring `width`×`height`, the chunk's CRC fixed when `fixCrc`. */
function declaring(width: number, height: number, fixCrc: boolean): Buffer {
  const copy = Buffer.from(png);
  // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
  copy.writeUInt32BE(width, 16);
  copy.writeUInt32BE(height, 20);
  if (fixCrc) copy.writeUInt32BE(crc32(copy.subarray(12, 29)), 29);
  return copy;
}

const HTML = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
/** A zip's local file header and end of central directory: enough for unzip to look. */
const ZIP = Buffer.concat([
  Buffer.from('PK\u0003\u0004\u0014\u0000\u0000\u0000\u0000\u0000', 'latin1'),
  Buffer.alloc(20),
  Buffer.from('evil.htmlPK\u0005\u0006', 'latin1'),
  Buffer.alloc(18),
]);
/** An MPEG-1 layer III frame header (0xFFFB, 128 kbit/s, 44.1 kHz) followed by a script. */
const MP3_SCRIPT = Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), HTML]);
const ID3_SCRIPT = Buffer.concat([
  Buffer.from('ID3\u0003\u0000\u0000\u0000\u0000\u0000\u0010', 'latin1'),
  Buffer.alloc(16),
  HTML,
]);

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory() ? allFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
    ),
  );
  return nested.flat();
}

async function stored() {
  const rows = await node.database.db
    .select()
    .from(tables.assets)
    .where(eq(tables.assets.projectId, projectId));
  return {
    rows: rows.length,
    files: (
      await allFiles(path.dirname((node.services.storage as LocalFileStorage).localPath('assets')))
    ).length,
  };
}

const multipart = (file: Buffer, filename = 'upload.png', type = 'image/png') =>
  Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        `Content-Type: ${type}\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);

const upload = (body: Buffer, contentType: string) =>
  api(node, owner, `/projects/${projectId}/assets`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: new Uint8Array(body),
  });

/** A raw HTTP request: `declared` bytes promised in Content-Length, `body` sent, then EOF. */
function rawUpload(body: Buffer, declared: number, contentType: string): Promise<string> {
  const url = new URL(node.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(
        `POST /api/v1/projects/${projectId}/assets HTTP/1.1\r\nHost: ${url.host}\r\n` +
          `Authorization: Bearer ${owner.accessToken}\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: ${declared}\r\nConnection: close\r\n\r\n`,
      );
      socket.end(body);
    });
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', () => undefined);
  });
}

/** null when `status`/`text` is a 4xx error body naming `file`. */
function refusedNamingFile(status: number, text: string): string | null {
  let body: { error?: { code?: string; message?: string } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status < 400 || status >= 500) return `${status} ${text.slice(0, 200)}`;
  if (!body?.error?.code || !/file/i.test(body.error.message ?? '')) {
    return `${status} without naming file: ${text.slice(0, 200)}`;
  }
  return null;
}

describe('security: hostile uploads', () => {
  it('the control upload is stored (so refusals below are about content)', async () => {
    const response = await upload(png, 'image/png');
    expect(response.status).toBe(201);
    const { asset } = await json(response);
    await node.database.db.delete(tables.assets).where(eq(tables.assets.id, asset.id));
    // The control's file goes too, so the counts below start from nothing of this project.
    const { rm } = await import('node:fs/promises');
    await rm((node.services.storage as LocalFileStorage).localPath(`assets/${projectId}`), {
      recursive: true,
      force: true,
    });
  });

  it('huge dimensions, polyglots and cut-short bodies are 4xx naming file; nothing stored', async () => {
    const tally = new Tally('hostile-uploads');
    const multipartType = `multipart/form-data; boundary=${BOUNDARY}`;
    const cases: Record<string, () => Promise<{ status: number; text: string }>> = {};
    const viaFetch = (body: Buffer, type: string) => async () => {
      const response = await upload(body, type);
      return { status: response.status, text: await response.text() };
    };
    const viaSocket = (body: Buffer, declared: number, type: string) => async () => {
      const answer = await rawUpload(body, declared, type);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      const text = answer.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      // A chunked answer: take the JSON between the chunk sizes.
      const jsonText = /\{.*\}/s.exec(text)?.[0] ?? answer;
      return { status, text: jsonText };
    };
    for (const fixCrc of [true, false]) {
      const crc = fixCrc ? 'valid CRC' : 'stale CRC';
      cases[`PNG declaring 100000x100000 (${crc})`] = viaFetch(
        declaring(100_000, 100_000, fixCrc),
        'image/png',
      );
      cases[`PNG declaring 2^31-1 x 1 (${crc})`] = viaFetch(
        declaring(2 ** 31 - 1, 1, fixCrc),
        'image/png',
      );
      cases[`PNG declaring 0x0 (${crc})`] = viaFetch(declaring(0, 0, fixCrc), 'image/png');
    }
    cases['PNG declaring 100000x100000 in multipart'] = viaFetch(
      multipart(declaring(100_000, 100_000, true)),
      multipartType,
    );
    cases['PNG signature then HTML'] = viaFetch(
      Buffer.concat([png.subarray(0, 8), HTML]),
      'image/png',
    );
    cases['PNG header chunks then HTML'] = viaFetch(
      Buffer.concat([png.subarray(0, 33), HTML]),
      'image/png',
    );
    cases['complete PNG with an HTML tail'] = viaFetch(Buffer.concat([png, HTML]), 'image/png');
    cases['complete PNG with a zip tail'] = viaFetch(Buffer.concat([png, ZIP]), 'image/png');
    cases['MP3 frame header then a script'] = viaFetch(MP3_SCRIPT, 'audio/mpeg');
    cases['ID3 tag then a script'] = viaFetch(ID3_SCRIPT, 'audio/mpeg');
    cases['HTML named .png in multipart'] = viaFetch(
      multipart(HTML, 'cat.png', 'image/png'),
      multipartType,
    );
    cases['SVG with a script'] = viaFetch(
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
      'image/svg+xml',
    );
    cases['empty body'] = viaFetch(Buffer.alloc(0), 'image/png');
    const whole = multipart(png);
    cases['multipart, Content-Length larger than sent'] = viaSocket(
      whole.subarray(0, whole.length - 200),
      whole.length,
      multipartType,
    );
    cases['raw PNG, Content-Length larger than sent'] = viaSocket(
      png.subarray(0, 50),
      png.length,
      'image/png',
    );
    cases['multipart, closing boundary never sent'] = viaFetch(
      whole.subarray(0, whole.length - `\r\n--${BOUNDARY}--\r\n`.length),
      multipartType,
    );
    cases['multipart, boundary not in the body'] = viaFetch(
      multipart(png),
      'multipart/form-data; boundary=some-other-boundary',
    );
    cases['multipart without a boundary parameter'] = viaFetch(
      multipart(png),
      'multipart/form-data',
    );

    for (const [name, attempt] of Object.entries(cases)) {
      const baseline = await stored();
      const { status, text } = await attempt();
      let problem = refusedNamingFile(status, text);
      const after = await stored();
      if (!problem && (after.rows !== baseline.rows || after.files !== baseline.files)) {
        problem = `stored ${after.rows - baseline.rows} rows, ${after.files - baseline.files} files`;
      }
      tally.record(name, problem);
      if (problem) {
        // Clean up so the next case starts from the same place.
        await node.database.db.delete(tables.assets).where(eq(tables.assets.projectId, projectId));
      }
    }
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });
});
