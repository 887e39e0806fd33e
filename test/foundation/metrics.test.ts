// `GET /metrics` of a real node: Prometheus text with route-labelled HTTP latency, realtime
// gauges that follow stock clients, the render queue's gauges on both queue backends, AI usage
// of the coach, and the METRICS_TOKEN bearer check.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Database, openDatabase } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { yjsDocName } from '../../shared/yjs-docs.ts';
import {
  connectSocket,
  connectYjs,
  type TestSocket,
  type YjsClient,
} from '../realtime/support/clients.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

const WAIT = { timeout: 10_000, interval: 25 };
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped, label values unescaped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The one sample of `name` whose labels include `labels`; undefined when there is none. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match`);
  return found[0]?.value;
}

describe.each([
  { queue: 'memory', redis: false },
  { queue: 'redis', redis: true },
])('/metrics with the $queue queue', ({ redis }) => {
  let node: TestNode;
  let session: Session;
  let projectId: string;
  const sockets: TestSocket[] = [];
  const docs: YjsClient[] = [];

  const scrape = async () => {
    const response = await node.request('/metrics');
    expect(response.status).toBe(200);
    return parseExposition(await response.text());
  };

  beforeAll(async () => {
    node = await startTestNode({ redis });
    session = await node.signup('Metrics');
    const workspaces = await (
      await node.request('/api/v1/workspaces', { token: session.accessToken })
    ).json();
    const created = await node.request('/api/v1/projects', {
      method: 'POST',
      token: session.accessToken,
      json: { workspaceId: workspaces.workspaces[0].id, title: 'Measured', topic: 'Metrics' },
    });
    projectId = (await created.json()).project.id;
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    for (const doc of docs.splice(0)) doc.destroy();
  });
  afterAll(() => node?.close());

  it('serves the Prometheus text format with process metrics', async () => {
    const response = await node.request('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(PROMETHEUS_TEXT);
    const samples = parseExposition(await response.text());
    expect(sample(samples, 'reelroom_process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(sample(samples, 'reelroom_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('times REST requests by route pattern, never by raw path', async () => {
    const missing = randomUUID();
    const get = (id: string) =>
      node.request(`/api/v1/projects/${id}`, { token: session.accessToken });
    expect((await get(projectId)).status).toBe(200);
    expect((await get(projectId)).status).toBe(200);
    expect((await get(missing)).status).toBe(404);

    const samples = await scrape();
    const count = (status: string) =>
      sample(samples, 'reelroom_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/api/v1/projects/:id',
        status,
      });
    expect(count('200')).toBe(2);
    expect(count('404')).toBe(1);
    expect(
      sample(samples, 'reelroom_http_request_duration_seconds_bucket', {
        method: 'GET',
        route: '/api/v1/projects/:id',
        status: '200',
        le: '+Inf',
      }),
    ).toBe(2);
    const routes = samples.flatMap((s) => (s.labels.route ? [s.labels.route] : []));
    expect(routes.filter((route) => route.includes(projectId) || route.includes(missing))).toEqual(
      [],
    );
  });

  it('follows sockets and project rooms as a socket.io client joins and leaves', async () => {
    const socket = connectSocket(node.url, session.accessToken);
    sockets.push(socket);
    await vi.waitFor(() => expect(socket.connected).toBe(true), WAIT);
    expect(await socket.emitWithAck('project:join', { projectId })).toEqual({ ok: true });

    const joined = await scrape();
    expect(sample(joined, 'reelroom_socketio_sockets')).toBe(1);
    expect(sample(joined, 'reelroom_socketio_rooms')).toBe(1);

    socket.disconnect();
    await vi.waitFor(async () => {
      const left = await scrape();
      expect(sample(left, 'reelroom_socketio_sockets')).toBe(0);
      expect(sample(left, 'reelroom_socketio_rooms')).toBe(0);
    }, WAIT);
  });

  it('counts loaded Yjs documents, their bytes and timed appends', async () => {
    const before = sample(await scrape(), 'reelroom_yjs_append_duration_seconds_count', {
      outcome: 'ok',
    });
    const client = connectYjs(
      node.url.replace(/^http/, 'ws'),
      yjsDocName(projectId, 'script'),
      session.accessToken,
    );
    docs.push(client);
    await vi.waitFor(() => expect(client.provider.synced).toBe(true), WAIT);
    client.doc.getText('script').insert(0, 'Measured words.');

    await vi.waitFor(async () => {
      const samples = await scrape();
      expect(sample(samples, 'reelroom_yjs_documents_loaded')).toBeGreaterThanOrEqual(1);
      expect(sample(samples, 'reelroom_yjs_document_bytes')).toBeGreaterThan(
        'Measured words.'.length,
      );
      expect(
        sample(samples, 'reelroom_yjs_append_duration_seconds_count', { outcome: 'ok' }),
      ).toBeGreaterThan(before ?? 0);
    }, WAIT);
  });

  it('reports depth, pending, delayed and dead letters of the render queue', async () => {
    const samples = await scrape();
    for (const name of ['depth', 'pending', 'delayed', 'dead_letters']) {
      expect(sample(samples, `reelroom_queue_${name}`, { queue: 'renders' })).toBe(0);
    }
  });

  it("counts the coach's tokens and cost by provider and model", async () => {
    const sent = await node.request(`/api/v1/projects/${projectId}/chat`, {
      method: 'POST',
      token: session.accessToken,
      json: { content: 'What next?' },
    });
    expect(sent.status).toBe(202);
    await vi.waitFor(async () => {
      const samples = await scrape();
      const labels = { provider: 'offline', model: 'offline' };
      expect(sample(samples, 'reelroom_ai_tokens_total', { ...labels, kind: 'input' })).toBe(0);
      expect(sample(samples, 'reelroom_ai_tokens_total', { ...labels, kind: 'output' })).toBe(0);
      expect(sample(samples, 'reelroom_ai_cost_usd_total', { ...labels, purpose: 'coach' })).toBe(
        0,
      );
    }, WAIT);
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  const token = `metrics-${randomUUID()}`;
  let node: TestNode;

  beforeAll(async () => {
    node = await startTestNode({ config: { metricsToken: token } });
  });
  afterAll(() => node?.close());

  it('answers 401 in the error body without the token or with a wrong one', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
      const response = await node.request('/metrics', {
        headers: authorization ? { authorization } : {},
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await response.json()).error).toMatchObject({ code: 'unauthorized' });
    }
  });

  it('serves the metrics with the right token', async () => {
    const response = await node.request('/metrics', { token });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(PROMETHEUS_TEXT);
    expect(parseExposition(await response.text()).length).toBeGreaterThan(0);
  });
});

describe('/metrics of a node whose database runs in its own thread (embedded)', () => {
  let node: TestNode;
  let database: Database;

  beforeAll(async () => {
    database = await openDatabase({ thread: true });
    await database.migrate();
    node = await startTestNode({ database });
  });
  afterAll(async () => {
    await node?.close();
    await database?.close();
  });

  it("reports that thread's wasm memory and JavaScript heap, which the Node heap figures leave out", async () => {
    const samples = parseExposition(await (await node.request('/metrics')).text());
    const wasm = sample(samples, 'reelroom_database_thread_memory_bytes', { part: 'wasm' });
    const heap = sample(samples, 'reelroom_database_thread_memory_bytes', { part: 'js_heap' });
    const rss = sample(samples, 'reelroom_process_resident_memory_bytes');
    // PGlite's Postgres runs in tens of MB of wasm memory at least; its thread's heap is its own.
    expect(wasm).toBeGreaterThan(16 * 1024 * 1024);
    expect(heap).toBeGreaterThan(1024 * 1024);
    expect(wasm! + heap!).toBeLessThan(rss!);
  });

  it('reports nothing of the kind for a database in the caller thread', async () => {
    const other = await startTestNode();
    try {
      const samples = parseExposition(await (await other.request('/metrics')).text());
      expect(samples.some((s) => s.name === 'reelroom_database_thread_memory_bytes')).toBe(false);
    } finally {
      await other.close();
    }
  });
});
