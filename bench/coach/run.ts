// bench/coach: a local OpenAI-compatible provider (in a process of its own) streams a reply of
// 2,000 tokens; the coach relays it to a room of 50 socket.io clients (in another process).
// Figures: added latency per token (client receive time minus provider write time, clocks of
// the processes aligned over IPC) p50/p99/max, tokens/s the provider wrote and the room got.
// Beside each run, the baseline measured in the same run: the OpenAI SDK alone reading the
// same stream in this process (receive time of each token minus its write time), the floor
// any relay built on the SDK starts from.
// Target (burst): added p99 <= 20 ms.
//
// Two modes, each for --runs interleaved runs: `burst` (the provider writes all tokens as fast
// as it can, so the figure includes the queue that builds while the SDK parses the burst) and
// `paced` (one token per --pace-ms, faster than any hosted model streams; no queue, so the
// figure is what parsing and relaying add per token).
//
//   npm run bench:coach [-- --clients 50 --tokens 2000 --runs 3 --pace-ms 1]
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { openDatabase } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { startNode } from '../../server/runtime.ts';
import type { Session } from '../../shared/accounts.ts';
import { median } from '../support/measure.ts';
import { ipcPeer, now } from './ipc-peer.ts';

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

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const tsxChild = { execArgv: ['--import', 'tsx'] };

type ProviderMessage =
  | { type: 'ready'; baseUrl: string }
  | { type: 'clock'; id: number; time: number }
  | { type: 'configured' }
  | { type: 'emitted'; times: number[] };
const provider = ipcPeer<ProviderMessage>(
  fork(here('./provider.ts'), {
    ...tsxChild,
    env: { ...process.env, BENCH_TOKENS: String(TOKENS) },
  }),
);
const { baseUrl } = await provider.next('ready');

// As `npm start` runs it: PGlite in its own thread, off the loop that relays the tokens.
const database = await openDatabase({ thread: true });
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
      openai: { apiKey: 'bench', baseUrl },
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

type ClientsMessage =
  | { type: 'ready' }
  | { type: 'clock'; id: number; time: number }
  | { type: 'reset' }
  | { type: 'done'; received: number[][] };
const clients = ipcPeer<ClientsMessage>(
  fork(here('./clients.ts'), {
    ...tsxChild,
    env: {
      ...process.env,
      BENCH_URL: node.url,
      BENCH_TOKEN: session.accessToken,
      BENCH_PROJECT: project.id,
      BENCH_CLIENTS: String(CLIENTS),
    },
  }),
);
await clients.next('ready');

const sdk = new OpenAI({ apiKey: 'bench', baseURL: baseUrl });

/** The burst read by the SDK alone, here: receive time of each token in our clock. */
async function readWithSdkAlone(): Promise<number[][]> {
  const times: number[] = [];
  const stream = await sdk.chat.completions.create({
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'bench' }],
  });
  let index = 0;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) if (choice.delta?.content) times[index++] = now();
  }
  return [times];
}

/** The same burst through the coach to the room: receive times in our clock, per client. */
async function relayThroughCoach(run: number): Promise<number[][]> {
  const offset = await clients.clockOffset();
  const reset = clients.next('reset');
  clients.child.send({ type: 'reset' });
  await reset;
  // The reply id is only known once sent; the child matches chat:done by it.
  const done = clients.next('done');
  const sent = await post<{ replyId: string }>(
    `/projects/${project.id}/chat`,
    { content: `run ${run}` },
    session.accessToken,
  );
  clients.child.send({ type: 'expect', replyId: sent.replyId, tokens: TOKENS });
  const { received } = await done;
  return received.map((times) => times.map((at) => at - offset));
}

interface RunFigures {
  p50: number;
  p99: number;
  max: number;
  providerTokensPerSecond: number;
  receiverTokensPerSecond: number;
  missing: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Runs one contender against the provider and returns its figures in our clock. */
async function measureRun(receive: () => Promise<number[][]>): Promise<RunFigures> {
  const providerOffset = await provider.clockOffset();
  const emitted = provider.next('emitted');
  const received = await receive();
  const emitTimes = (await emitted).times.map((at) => at - providerOffset);
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
      latencies.push(at - emitTimes[i]!);
      lastReceive = Math.max(lastReceive, at);
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1)!,
    providerTokensPerSecond: TOKENS / ((emitTimes[TOKENS - 1]! - emitTimes[0]!) / 1000),
    receiverTokensPerSecond: TOKENS / ((lastReceive - emitTimes[0]!) / 1000),
    missing,
  };
}

const describe = (f: RunFigures) =>
  [
    `p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms, max ${f.max.toFixed(2)} ms;`,
    `provider ${Math.round(f.providerTokensPerSecond)} tokens/s,`,
    `receiver ${Math.round(f.receiverTokensPerSecond)} tokens/s; missing ${f.missing}`,
  ].join(' ');

console.log(`coach fan-out: ${TOKENS} tokens to ${CLIENTS} clients, ${RUNS} runs per mode`);
const modes = [
  { name: 'burst', delayMs: 0 },
  { name: `paced ${PACE_MS} ms`, delayMs: PACE_MS },
];
const summary: string[] = [];
for (const mode of modes) {
  const configured = provider.next('configured');
  provider.child.send({ type: 'configure', delayMs: mode.delayMs });
  await configured;
  const coach: RunFigures[] = [];
  const alone: RunFigures[] = [];
  for (let run = 1; run <= RUNS; run += 1) {
    // Interleaved: the baseline and the coach read the same burst moments apart.
    const baseline = await measureRun(readWithSdkAlone);
    const relayed = await measureRun(() => relayThroughCoach(run));
    alone.push(baseline);
    coach.push(relayed);
    console.log(`${mode.name} run ${run}: SDK alone ${describe(baseline)}`);
    console.log(`${mode.name} run ${run}: coach to ${CLIENTS} clients ${describe(relayed)}`);
  }
  const p99 = median(coach.map((f) => f.p99));
  const floor = median(alone.map((f) => f.p99));
  summary.push(
    `${mode.name}: added p99 median ${p99.toFixed(1)} ms (SDK alone ${floor.toFixed(1)} ms, the relay's own share ${(p99 - floor).toFixed(1)} ms), p50 median ${median(coach.map((f) => f.p50)).toFixed(1)} ms` +
      (mode.delayMs === 0 ? `; target p99 <= 20 ms ${p99 <= 20 ? 'met' : 'MISSED'}` : ''),
  );
}
console.log(`\n${summary.join('\n')}`);

clients.child.kill();
provider.child.kill();
await node.close();
await database.close();
