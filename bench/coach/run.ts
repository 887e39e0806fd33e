// bench/coach: a local OpenAI-compatible provider streams a reply of 2,000 tokens as fast as it
// can; the coach relays it to a room of 50 socket.io clients (in a child process).
// Figures: added latency per token (client receive time minus provider emit time, clocks of the
// two processes aligned over IPC) p50/p99/max, tokens/s the provider emitted and the room got.
// Target: p99 <= 5 ms.
//
// Two modes, each for --runs runs: `burst` (the provider writes all tokens as fast as it can,
// so the figure includes the queue that builds while the SDK parses the burst) and `paced`
// (one token per --pace-ms, faster than any hosted model streams; no queue, so the figure is
// what parsing and relaying add per token).
//
//   npm run bench:coach [-- --clients 50 --tokens 2000 --runs 3 --pace-ms 1]
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { startNode } from '../../server/runtime.ts';
import type { Session } from '../../shared/accounts.ts';
import { FakeLlmServer } from '../../test/coach/support/fake-llm-server.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    tokens: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    'pace-ms': { type: 'string', default: '1' },
  },
});
const CLIENTS = Number(values.clients);
const TOKENS = Number(values.tokens);
const RUNS = Number(values.runs);
const PACE_MS = Number(values['pace-ms']);
let delayMs = 0;
const now = () => performance.timeOrigin + performance.now();

let emitTimes: number[] = [];
const fake = await FakeLlmServer.start('openai', {
  reply: () => ({
    tokens: Array.from({ length: TOKENS }, (_, i) => `t${i} `),
    delayMs,
    usage: { inputTokens: 100, outputTokens: TOKENS },
  }),
  onTokenWritten: (index) => {
    emitTimes[index] = now();
  },
});
const database = await openDatabase();
const node = await startNode(
  {
    port: 0,
    host: '127.0.0.1',
    dataDir: path.join(tmpdir(), `reelroom-bench-${randomUUID()}`),
    databaseUrl: undefined,
    redisUrl: undefined,
    jwtSecret: randomBytes(32).toString('base64url'),
    trustProxy: false,
    shutdownGraceMs: 1000,
    renderWorkers: false,
    // All clients are one user: the hub's per-user caps (20 sockets, 30 joins a minute) would
    // refuse most of them.
    realtime: {
      socketIo: {
        maxSocketsPerUser: CLIENTS,
        joinRateLimit: { points: 10_000, durationSeconds: 60 },
      },
    },
    coach: {
      provider: 'openai',
      openai: { apiKey: 'bench', baseUrl: fake.baseUrl },
      // The benchmark sends more than a member's daily quota over its runs.
      dailyMessageLimit: 10_000,
      maxOutputTokens: TOKENS * 2,
    },
  },
  createLogger('silent'),
  { database },
);

async function post<T>(pathname: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(`${node.url}/api/v1${pathname}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

const session = await post<Session>('/auth/signup', {
  email: `${randomUUID()}@bench.test`,
  password: 'correct horse battery',
  name: 'Bench',
});
const workspaces = (await (
  await fetch(`${node.url}/api/v1/workspaces`, {
    headers: { authorization: `Bearer ${session.accessToken}` },
  })
).json()) as { workspaces: Array<{ id: string }> };
const { project } = await post<{ project: { id: string } }>(
  '/projects',
  { workspaceId: workspaces.workspaces[0]!.id, title: 'Bench', topic: 'Coach fan-out' },
  session.accessToken,
);

const child = fork(fileURLToPath(new URL('./clients.ts', import.meta.url)), {
  execArgv: ['--import', 'tsx'],
  env: {
    ...process.env,
    BENCH_URL: node.url,
    BENCH_TOKEN: session.accessToken,
    BENCH_PROJECT: project.id,
    BENCH_CLIENTS: String(CLIENTS),
  },
});
type ChildMessage =
  | { type: 'ready' }
  | { type: 'clock'; id: number; time: number }
  | { type: 'reset' }
  | { type: 'done'; received: number[][] };
const next = <T extends ChildMessage['type']>(type: T) =>
  new Promise<Extract<ChildMessage, { type: T }>>((resolve) => {
    const listener = (message: ChildMessage) => {
      if (message.type !== type) return;
      child.off('message', listener);
      resolve(message as Extract<ChildMessage, { type: T }>);
    };
    child.on('message', listener);
  });
await next('ready');

/** Child clock minus ours, from the IPC round trip with the smallest delay (NTP's idea). */
async function clockOffset(): Promise<number> {
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let id = 0; id < 50; id += 1) {
    const sent = now();
    const reply = next('clock');
    child.send({ type: 'clock', id });
    const { time } = await reply;
    const back = now();
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: time - (sent + back) / 2 };
  }
  return best.offset;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

console.log(`coach fan-out: ${TOKENS} tokens to ${CLIENTS} clients, ${RUNS} runs per mode`);
const modes = [
  { name: 'burst', delay: 0 },
  { name: `paced ${PACE_MS} ms`, delay: PACE_MS },
];
for (const mode of modes)
  for (let run = 1; run <= RUNS; run += 1) {
    delayMs = mode.delay;
    const offset = await clockOffset();
    emitTimes = [];
    const reset = next('reset');
    child.send({ type: 'reset' });
    await reset;
    // The reply id is only known once sent; the child matches chat:done by it.
    const done = next('done');
    const sent = await post<{ replyId: string }>(
      `/projects/${project.id}/chat`,
      { content: `run ${run}` },
      session.accessToken,
    );
    child.send({ type: 'expect', replyId: sent.replyId, tokens: TOKENS });
    const { received } = await done;
    const latencies: number[] = [];
    let missing = 0;
    let lastReceive = 0;
    for (const times of received) {
      for (let i = 0; i < TOKENS; i += 1) {
        const at = times[i];
        if (at === undefined || at === null) {
          missing += 1;
          continue;
        }
        latencies.push(at - offset - emitTimes[i]!);
        lastReceive = Math.max(lastReceive, at - offset);
      }
    }
    latencies.sort((a, b) => a - b);
    const emitSeconds = (emitTimes[TOKENS - 1]! - emitTimes[0]!) / 1000;
    const roomSeconds = (lastReceive - emitTimes[0]!) / 1000;
    console.log(
      [
        `${mode.name} run ${run}:`,
        `added latency per token p50 ${percentile(latencies, 50).toFixed(2)} ms,`,
        `p99 ${percentile(latencies, 99).toFixed(2)} ms,`,
        `max ${latencies.at(-1)!.toFixed(2)} ms;`,
        `provider ${Math.round(TOKENS / emitSeconds)} tokens/s,`,
        `room ${Math.round(TOKENS / roomSeconds)} tokens/s per client`,
        `(${Math.round((TOKENS * CLIENTS) / roomSeconds)} deliveries/s);`,
        `missing ${missing}`,
      ].join(' '),
    );
  }

child.kill();
await node.close();
await database.close();
await fake.close();
