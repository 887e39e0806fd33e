// bench/realtime: the realtime layer on two API node processes (Postgres + Redis), measured
// beside a bare `ws` broadcast server in the same run.
//
// (a) Fan-out: one sender (the Redis room emitter, as a render worker uses it), N clients in
//     one room split over two nodes; delivered messages/s and p50/p99 send-to-receive latency.
//     Baseline: two bare `ws` servers fed by one Redis channel, same clients, same payload.
//     Targets: throughput >= 0.5x raw ws, p99 <= 2x raw ws.
// (b) Yjs: E editors over D documents on two nodes, R edits/s each; edit-to-remote p50/p99 for
//     a client on the same node (one hop) and on the other node (through Redis), database
//     writes per second, and resident memory per loaded document with a 10 KB script.
//     Targets: p99 <= 5 ms per hop on loopback, <= 150 KB per document.
//
//   npm run bench:realtime [-- --clients 1000 --messages 200 --rate 50 --editors 100 --docs 20
//                             --edit-rate 10 --seconds 10 --memory-docs 100 --scattered
//                             --skip-fanout]
// BENCH_NODE_OPTIONS is passed to the API nodes as NODE_OPTIONS (e.g. `--import <preload>` to try
// a socket option on every node before it lands in the code).
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { io as ioClient, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { openRedisConnections, RedisRoomEmitter } from '../../realtime/index.ts';
import { openTestPostgres } from '../../test/support/databases.ts';
import { freePort, type NodeProcess, spawnEntry } from '../../test/support/processes.ts';
import { TEST_REDIS_URL } from '../../test/support/services.ts';
import { fmt, ratio } from '../support/measure.ts';

// Every y-websocket provider adds a process 'exit' listener; hundreds are expected here.
process.setMaxListeners(0);

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '200' },
    rate: { type: 'string', default: '50' },
    editors: { type: 'string', default: '100' },
    docs: { type: 'string', default: '20' },
    'edit-rate': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    'memory-docs': { type: 'string', default: '100' },
    /** Build the memory bench's scripts from scattered single-word edits (the worst case). */
    scattered: { type: 'boolean', default: false },
    /** Leave out part (a), e.g. to measure the Yjs latencies alone. */
    'skip-fanout': { type: 'boolean', default: false },
  },
});
const CLIENTS = Number(values.clients);
const MESSAGES = Number(values.messages);
const RATE = Number(values.rate);
const EDITORS = Number(values.editors);
const DOCS = Number(values.docs);
const EDIT_RATE = Number(values['edit-rate']);
const SECONDS = Number(values.seconds);
const MEMORY_DOCS = Number(values['memory-docs']);
const SCATTERED = values.scattered;
const SKIP_FANOUT = values['skip-fanout'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
}

// --- the cluster --------------------------------------------------------------------------

const database = await openTestPostgres();
const prefix = `bench-${randomUUID()}`;
const env = {
  DATABASE_URL: database.url,
  REDIS_URL: TEST_REDIS_URL,
  REDIS_KEY_PREFIX: prefix,
  JWT_SECRET: randomBytes(32).toString('base64url'),
  HOST: '127.0.0.1',
  DATA_DIR: path.join(tmpdir(), `reelroom-bench-${randomUUID()}`),
  LOG_LEVEL: 'warn',
  // Every client here signs in as the one bench user: lift the per-user cap above them all.
  MAX_CONNECTIONS_PER_USER: String(Math.max(CLIENTS, EDITORS, MEMORY_DOCS) + 10),
  ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
};
const processes: NodeProcess[] = [];
async function start(entry: string, extraEnv: Record<string, string>, args: string[] = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await spawnEntry(
    entry,
    { ...env, ...extraEnv, PORT: String(port) },
    {
      url,
      args: [...args.map((arg) => arg.replace('{port}', String(port)))],
    },
  );
  processes.push(child);
  return child;
}

async function cleanUp() {
  await Promise.allSettled(processes.map((child) => child.stop('SIGKILL')));
  await database.close();
  const redis = createClient({ url: TEST_REDIS_URL });
  await redis.connect();
  const keys: string[] = [];
  for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    keys.push(...batch);
  }
  if (keys.length > 0) await redis.del(keys);
  await redis.close();
}

try {
  const [nodeA, nodeB] = await Promise.all([
    start('server/api-main.ts', {}),
    start('server/api-main.ts', {}),
  ]);
  const nodes = [nodeA!, nodeB!];
  const api = async (token: string | null, method: string, pathname: string, body?: unknown) => {
    const response = await fetch(`${nodeA!.url}/api/v1${pathname}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status}`);
    return response.json() as Promise<Record<string, { id: string }> & { accessToken: string }>;
  };
  const session = await api(null, 'POST', '/auth/signup', {
    email: `${randomUUID()}@bench.test`,
    password: 'correct horse battery',
    name: 'Bench',
  });
  const token = session.accessToken;
  const { workspace } = await api(token, 'POST', '/workspaces', { name: 'Bench' });
  const newProject = async () =>
    (
      await api(token, 'POST', '/projects', {
        workspaceId: workspace!.id,
        title: 'Bench',
        topic: 'bench',
      })
    ).project!.id;

  if (!SKIP_FANOUT) {
    // --- (a) fan-out -------------------------------------------------------------------------

    const fanoutProject = await newProject();

    /** Sends MESSAGES at RATE through `send`, records every delivery's latency. */
    async function runFanout(
      name: string,
      connectAll: (onMessage: (seq: number) => void) => Promise<() => void>,
      send: (seq: number) => Promise<void>,
    ) {
      const sentAt: number[] = [];
      const latencies: number[] = [];
      let firstSend = 0;
      let lastDelivery = 0;
      const disconnect = await connectAll((seq) => {
        const now = performance.now();
        latencies.push(now - sentAt[seq]!);
        lastDelivery = now;
      });
      await sleep(500);
      firstSend = performance.now();
      for (let seq = 0; seq < MESSAGES; seq += 1) {
        const due = firstSend + (seq * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        sentAt[seq] = performance.now();
        await send(seq);
      }
      const expected = MESSAGES * CLIENTS;
      await until(() => latencies.length >= expected, `${name} deliveries`, 60_000).catch(
        () => undefined,
      );
      disconnect();
      latencies.sort((a, b) => a - b);
      return {
        name,
        delivered: latencies.length,
        expected,
        perSecond: latencies.length / ((lastDelivery - firstSend) / 1000),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      };
    }

    const emitterRedis = await openRedisConnections({ url: TEST_REDIS_URL, name: 'bench emitter' });
    const emitter = new RedisRoomEmitter({ redis: emitterRedis.shared, keyPrefix: prefix });
    const socketIo = await runFanout(
      'socket.io (2 nodes)',
      async (onMessage) => {
        const sockets: Socket[] = [];
        for (let i = 0; i < CLIENTS; i += 1) {
          const socket = ioClient(nodes[i % 2]!.url, {
            auth: { token },
            transports: ['websocket'],
            forceNew: true,
          });
          socket.on('render:progress', (event: { renderId: string }) =>
            onMessage(Number(event.renderId)),
          );
          sockets.push(socket);
        }
        await until(() => sockets.every((socket) => socket.connected), 'socket.io connections');
        for (let i = 0; i < sockets.length; i += 50) {
          await Promise.all(
            sockets
              .slice(i, i + 50)
              .map((socket) => socket.emitWithAck('project:join', { projectId: fanoutProject })),
          );
        }
        return () => {
          for (const socket of sockets) socket.disconnect();
        };
      },
      (seq) =>
        emitter.emit(fanoutProject, 'render:progress', {
          renderId: String(seq),
          status: 'running',
          progress: 0.5,
        }),
    );
    await emitter.close();
    await emitterRedis.close();

    const channel = `${prefix}:raw`;
    const rawServers = await Promise.all([
      start('bench/realtime/raw-ws-server.ts', {}, ['{port}', TEST_REDIS_URL, channel]),
      start('bench/realtime/raw-ws-server.ts', {}, ['{port}', TEST_REDIS_URL, channel]),
    ]);
    const publisher = createClient({ url: TEST_REDIS_URL });
    await publisher.connect();
    const raw = await runFanout(
      'raw ws (2 servers)',
      async (onMessage) => {
        const sockets: WebSocket[] = [];
        for (let i = 0; i < CLIENTS; i += 1) {
          const socket = new WebSocket(rawServers[i % 2]!.url.replace('http', 'ws'));
          socket.on('message', (data) => {
            const [, event] = JSON.parse(String(data)) as [string, { renderId: string }];
            onMessage(Number(event.renderId));
          });
          sockets.push(socket);
        }
        await until(
          () => sockets.every((socket) => socket.readyState === WebSocket.OPEN),
          'ws connections',
        );
        return () => {
          for (const socket of sockets) socket.terminate();
        };
      },
      async (seq) => {
        await publisher.publish(
          channel,
          JSON.stringify([
            'render:progress',
            { renderId: String(seq), status: 'running', progress: 0.5 },
          ]),
        );
      },
    );
    await publisher.close();
    for (const server of rawServers) await server.stop('SIGKILL');

    console.log(
      `\n(a) fan-out: ${CLIENTS} clients in one room over two nodes, ${MESSAGES} messages at ${RATE}/s`,
    );
    for (const result of [socketIo, raw]) {
      console.log(
        `  ${result.name.padEnd(20)} delivered ${result.delivered}/${result.expected}  ` +
          `${fmt(result.perSecond, 0)} msg/s  p50 ${fmt(result.p50)} ms  p99 ${fmt(result.p99)} ms`,
      );
    }
    console.log(
      `  socket.io / raw ws: throughput ${fmt(ratio(socketIo.perSecond, raw.perSecond))}x (target >= 0.5), ` +
        `p99 ${fmt(ratio(socketIo.p99, raw.p99))}x (target <= 2)`,
    );
  }

  // --- (b) Yjs -----------------------------------------------------------------------------

  const docProjects = await Promise.all(Array.from({ length: DOCS }, () => newProject()));
  interface Editor {
    index: number;
    node: number;
    doc: Y.Doc;
    provider: WebsocketProvider;
  }
  const editors: Editor[] = [];
  const sentAt = new Map<string, { at: number; node: number }>();
  const sameNode: number[] = [];
  const crossNode: number[] = [];
  for (let index = 0; index < EDITORS; index += 1) {
    const docIndex = index % DOCS;
    // Alternate nodes within a document, so each has editors on both.
    const node = Math.floor(index / DOCS) % 2;
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(
      `${nodes[node]!.url.replace('http', 'ws')}/yjs`,
      `project/${docProjects[docIndex]}/script`,
      doc,
      { params: { token }, WebSocketPolyfill: WebSocket as never, disableBc: true },
    );
    const editor = { index, node, doc, provider };
    doc.getText('script').observe((event, transaction) => {
      if (transaction.local) return;
      const now = performance.now();
      for (const op of event.delta) {
        if (typeof op.insert !== 'string') continue;
        for (const match of op.insert.matchAll(/e\d+:\d+;/g)) {
          const sent = sentAt.get(match[0]);
          if (!sent) continue;
          (sent.node === node ? sameNode : crossNode).push(now - sent.at);
        }
      }
    });
    editors.push(editor);
  }
  await until(() => editors.every((editor) => editor.provider.synced), 'yjs editors synced');

  // The identity sequence counts every append, even rows a compaction deleted since.
  const appendCount = async () => {
    const rows = (await database.db.execute(
      'select last_value from yjs_updates_id_seq',
    )) as unknown as Array<{ last_value: string }>;
    return Number(rows[0]?.last_value ?? 0);
  };
  const firstId = await appendCount();
  const editStart = performance.now();
  let edits = 0;
  const timers = editors.map((editor) => {
    let seq = 0;
    // Spread the editors' ticks over the interval instead of firing them all at once.
    const interval = 1000 / EDIT_RATE;
    const timer = setInterval(() => {
      const id = `e${editor.index}:${seq++};`;
      sentAt.set(id, { at: performance.now(), node: editor.node });
      const text = editor.doc.getText('script');
      text.insert(text.length, id);
      edits += 1;
    }, interval);
    return timer;
  });
  await sleep(SECONDS * 1000);
  for (const timer of timers) clearInterval(timer);
  const editSeconds = (performance.now() - editStart) / 1000;
  await sleep(1000);
  const writes = (await appendCount()) - firstId;
  for (const editor of editors) editor.provider.destroy();

  sameNode.sort((a, b) => a - b);
  crossNode.sort((a, b) => a - b);
  console.log(
    `\n(b) Yjs: ${EDITORS} editors over ${DOCS} documents on two nodes, ${EDIT_RATE} edits/s each for ${SECONDS} s`,
  );
  console.log(`  edits made ${edits} (${fmt(edits / editSeconds, 0)}/s)`);
  console.log(
    `  edit-to-remote, same node (1 hop):   p50 ${fmt(percentile(sameNode, 50))} ms  p99 ${fmt(percentile(sameNode, 99))} ms  (${sameNode.length} samples)`,
  );
  console.log(
    `  edit-to-remote, other node (Redis):  p50 ${fmt(percentile(crossNode, 50))} ms  p99 ${fmt(percentile(crossNode, 99))} ms  (${crossNode.length} samples)`,
  );
  console.log(
    `  database writes: ${writes} appends in ${fmt(editSeconds, 1)} s = ${fmt(writes / editSeconds, 0)} writes/s ` +
      `(${fmt(edits / Math.max(1, writes))} edits per write, batched while an append is in flight)`,
  );

  // Memory: load MEMORY_DOCS documents of ~10 KB each on node B and compare its RSS.
  const memoryProjects = await Promise.all(Array.from({ length: MEMORY_DOCS }, () => newProject()));
  const random = (n: number) => Math.floor(Math.random() * n);
  let scriptBytes = 0;
  let updateBytes = 0;
  for (const projectId of memoryProjects) {
    const doc = new Y.Doc();
    const text = doc.getText('script');
    while (text.length < 10_000) {
      if (SCATTERED) {
        // Worst case: every word typed somewhere else, so no two edits merge into one item.
        text.insert(random(text.length + 1), `${randomUUID().slice(0, 18)} `);
      } else {
        // As people write: a run of words at one cursor, then the cursor moves elsewhere.
        let cursor = random(text.length + 1);
        for (let word = 0; word < 15; word += 1) {
          const chunk = `${randomUUID().slice(0, 2 + random(8))} `;
          text.insert(cursor, chunk);
          cursor += chunk.length;
        }
      }
      if (text.length > 40 && Math.random() < 0.1) text.delete(random(text.length - 10), 5);
    }
    scriptBytes += text.length;
    updateBytes += Y.encodeStateAsUpdate(doc).length;
    const provider = new WebsocketProvider(
      `${nodeA!.url.replace('http', 'ws')}/yjs`,
      `project/${projectId}/script`,
      doc,
      { params: { token }, WebSocketPolyfill: WebSocket as never, disableBc: true },
    );
    await until(() => provider.synced, 'seeding a document');
    // Synced means the server answered; its copy is stored once it has our update, which
    // the server applies only after the append: wait until the server's echo matches.
    await sleep(20);
    provider.destroy();
    doc.destroy();
  }
  await sleep(1000);
  const rssBefore = rssKb(nodeB!.child.pid!);
  const readers: Array<{ doc: Y.Doc; provider: WebsocketProvider }> = [];
  for (const projectId of memoryProjects) {
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(
      `${nodeB!.url.replace('http', 'ws')}/yjs`,
      `project/${projectId}/script`,
      doc,
      { params: { token }, WebSocketPolyfill: WebSocket as never, disableBc: true },
    );
    readers.push({ doc, provider });
  }
  await until(() => readers.every((reader) => reader.provider.synced), 'loading documents');
  const loadedText = readers.reduce((sum, reader) => sum + reader.doc.getText('script').length, 0);
  await sleep(2000);
  const rssAfter = rssKb(nodeB!.child.pid!);
  for (const reader of readers) reader.provider.destroy();
  console.log(
    `  memory: ${MEMORY_DOCS} documents of ~${fmt(scriptBytes / MEMORY_DOCS / 1024, 1)} KB script ` +
      `${SCATTERED ? 'typed word by word at scattered places' : 'typed in runs of words'}, ` +
      `${fmt(updateBytes / MEMORY_DOCS / 1024, 1)} KB as a Yjs update ` +
      `(${fmt(loadedText / MEMORY_DOCS / 1024, 1)} KB loaded) with one connection each: node RSS ` +
      `${fmt(rssBefore / 1024, 1)} -> ${fmt(rssAfter / 1024, 1)} MB = ` +
      `${fmt((rssAfter - rssBefore) / MEMORY_DOCS, 0)} KB per document (target <= 150)`,
  );
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
// Client libraries keep timers and sockets around after they were told to stop (reconnect
// backoffs, process listeners); the figures are printed, so leave without waiting for them.
process.exit();
