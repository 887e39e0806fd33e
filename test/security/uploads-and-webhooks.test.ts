import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { createApp } from '../../server/http/app.ts';
import type { LocalFileStorage } from '../../server/storage/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { signEvent, stripeEvent } from '../billing/support/fake-stripe.ts';
import { makeImage } from '../render-farm/media.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { storedDigest, Tally } from './support.ts';

// Issue 15, item 3: a truncated multipart upload and a correctly signed webhook whose event
// has `created: 1e20` were 500s. Each must be a 400 naming the field, with nothing stored.

const WEBHOOK_SECRET = 'whsec_test_security';
const BOUNDARY = 'reelroom-boundary';

let node: TestNode;
let owner: Session;
let projectId: string;
let png: Buffer;

beforeAll(async () => {
  node = await startTestNode({ config: { stripe: { webhookSecret: WEBHOOK_SECRET } } });
  owner = await node.signup('Uploader');
  const listed = await (
    await node.request('/api/v1/workspaces', { token: owner.accessToken })
  ).json();
  const created = await node.request('/api/v1/projects', {
    method: 'POST',
    token: owner.accessToken,
    json: { workspaceId: listed.workspaces[0].id, title: 'Uploads', topic: 'Uploads' },
  });
  projectId = (await created.json()).project.id;
  png = await readFile(await makeImage(path.join(tmpdir(), `security-${randomUUID()}.png`)));
});
afterAll(() => node?.close());

const multipartHead = () =>
  Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n` +
      'Content-Type: image/png\r\n\r\n',
  );
const multipartTail = () => Buffer.from(`\r\n--${BOUNDARY}--\r\n`);

/** The project's stored assets: rows, and files under its storage folder. */
async function storedAssets() {
  const rows = await node.database.db
    .select()
    .from(tables.assets)
    .where(eq(tables.assets.projectId, projectId));
  const files = await readdir(
    (node.services.storage as LocalFileStorage).localPath(`assets/${projectId}`),
  ).catch(() => []);
  return { rows: rows.length, files: files.length };
}

/** A body stream that sends `bytes` and then fails, as a request body whose client went away. */
function cutStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      setTimeout(() => controller.error(new Error('aborted')), 10);
    },
  });
}

/** Writes a raw request on a socket, half-closes it, and resolves with the raw answer. */
function rawRequest(head: string, body: Buffer): Promise<string> {
  const url = new URL(node.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(head);
      socket.end(body);
    });
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
  });
}

describe('security: truncated uploads', () => {
  it('a body that ends before its Content-Length or closing boundary is a 400 naming file; nothing is stored', async () => {
    const tally = new Tally('truncated-uploads');
    const app = createApp(node.services);
    const uploadUrl = `http://local/api/v1/projects/${projectId}/assets`;
    const auth = { authorization: `Bearer ${owner.accessToken}` };
    const multipartType = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    const whole = Buffer.concat([multipartHead(), png, multipartTail()]);
    const cut = whole.subarray(0, multipartHead().length + Math.floor(png.length / 2));

    const cases: Record<string, () => Response | Promise<Response>> = {
      // The client went away mid-body: the stream under the request fails.
      'multipart, connection lost mid-file': () =>
        app.request(uploadUrl, {
          method: 'POST',
          headers: { ...auth, ...multipartType, 'content-length': String(whole.length) },
          body: cutStream(cut),
          duplex: 'half',
        } as RequestInit),
      'raw bytes, connection lost mid-file': () =>
        app.request(uploadUrl, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'image/png', 'content-length': String(png.length) },
          body: cutStream(png.subarray(0, 100)),
          duplex: 'half',
        } as RequestInit),
      // A complete request whose multipart body is cut short: no closing boundary.
      'multipart without its closing boundary': () =>
        node.request(`/api/v1/projects/${projectId}/assets`, {
          method: 'POST',
          token: owner.accessToken,
          headers: multipartType,
          body: cut,
        }),
      'multipart of only a head': () =>
        node.request(`/api/v1/projects/${projectId}/assets`, {
          method: 'POST',
          token: owner.accessToken,
          headers: multipartType,
          body: multipartHead(),
        }),
      'multipart with a garbage body': () =>
        node.request(`/api/v1/projects/${projectId}/assets`, {
          method: 'POST',
          token: owner.accessToken,
          headers: multipartType,
          body: 'not multipart at all',
        }),
    };
    for (const [name, send] of Object.entries(cases)) {
      const before = await storedDigest(node.database.db);
      const response = await send();
      const body = await response.json().catch(() => null);
      const stored = await storedAssets();
      tally.record(
        name,
        response.status !== 400 || !/^file: /.test(body?.error?.message ?? '')
          ? `status ${response.status} ${JSON.stringify(body)}`
          : (await storedDigest(node.database.db)) !== before || stored.rows || stored.files
            ? `stored ${JSON.stringify(stored)}`
            : null,
      );
    }

    // Over a real socket: Content-Length larger than what is sent, then the client half-closes.
    // Node answers such a request itself (400, its parser saw the body end early); what matters
    // is that nothing was stored and the node keeps serving.
    const head = (length: number) =>
      `POST /api/v1/projects/${projectId}/assets HTTP/1.1\r\nHost: test\r\n` +
      `Authorization: Bearer ${owner.accessToken}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${length}\r\n\r\n`;
    const answer = await rawRequest(head(whole.length), cut);
    const stored = await storedAssets();
    tally.record(
      'socket: Content-Length larger than sent',
      /^HTTP\/1\.1 4\d\d/.test(answer) && !stored.rows && !stored.files
        ? null
        : `answer ${answer.split('\r\n')[0]} stored ${JSON.stringify(stored)}`,
    );

    // And the same upload, complete, is stored (the route itself works).
    const ok = await node.request(`/api/v1/projects/${projectId}/assets`, {
      method: 'POST',
      token: owner.accessToken,
      headers: multipartType,
      body: whole,
    });
    expect(ok.status).toBe(201);
    tally.report();
    expect(tally.broken).toEqual([]);
  });
});

describe('security: webhook events with impossible values', () => {
  const deliver = (event: Record<string, unknown>) => {
    const signed = signEvent(event, WEBHOOK_SECRET);
    return node.request('/api/v1/billing/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signed.signature },
      body: signed.body,
    });
  };
  const session = () => ({ id: `cs_test_${randomUUID()}`, object: 'checkout.session' });

  it('a signed event with an absurd created is a 400 naming created; nothing is stored', async () => {
    const tally = new Tally('webhook-created');
    for (const created of [1e20, -1e20, 2e13, 1e16, -1, 1.5, Number.MAX_SAFE_INTEGER]) {
      const before = await storedDigest(node.database.db);
      const response = await deliver(
        stripeEvent('checkout.session.completed', session(), { created }),
      );
      const body = await response.json();
      tally.record(
        `created ${created}`,
        response.status !== 400 || !body.error.message.includes('created:')
          ? `status ${response.status} ${JSON.stringify(body)}`
          : (await storedDigest(node.database.db)) !== before
            ? 'stored something'
            : null,
      );
    }
    const asString = stripeEvent('checkout.session.completed', session());
    asString.created = String(asString.created);
    const response = await deliver(asString);
    tally.record(
      'created as a string',
      response.status === 400 && (await response.json()).error.message.includes('created:')
        ? null
        : `status ${response.status}`,
    );
    tally.report();
    expect(tally.broken).toEqual([]);
  });

  it('a signed event with a NUL anywhere is a 400 naming where; nothing is stored', async () => {
    const tally = new Tally('webhook-nul');
    const events: Record<string, [Record<string, unknown>, string]> = {
      'in the type': [stripeEvent('checkout.session.completed\u0000', session()), 'type:'],
      'in an unhandled type': [stripeEvent('customer.created\u0000x', session()), 'type:'],
      'in the id': [stripeEvent('customer.created', session(), { id: 'evt_\u0000' }), 'id:'],
      'in metadata': [
        stripeEvent('customer.created', { ...session(), metadata: { note: 'a\u0000b' } }),
        'data.object.metadata.note:',
      ],
      'in a key': [
        stripeEvent('customer.created', { ...session(), metadata: { 'k\u0000': 'v' } }),
        'data.object.metadata.k',
      ],
    };
    for (const [name, [event, field]] of Object.entries(events)) {
      const before = await storedDigest(node.database.db);
      const response = await deliver(event);
      const body = await response.json();
      tally.record(
        name,
        response.status !== 400 || !body.error.message.includes(field)
          ? `status ${response.status} ${JSON.stringify(body)}`
          : (await storedDigest(node.database.db)) !== before
            ? 'stored something'
            : null,
      );
    }
    // A well-formed event is still stored.
    const fine = await deliver(stripeEvent('customer.created', session()));
    expect(fine.status).toBe(200);
    tally.report();
    expect(tally.broken).toEqual([]);
  });
});
