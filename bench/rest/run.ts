// bench/rest: an authenticated GET /api/v1/me and the trivial GET /health on a Reelroom node,
// beside a bare node:http server answering the same JSON, all measured in this run.
// Targets: trivial ≥ 0.8× bare, authenticated ≥ 0.6× bare (requests per second).
//
//   npm run bench:rest [-- --rounds 5 --seconds 3 --connections 50 --database postgres]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { freePort, spawnEntry } from '../../test/support/processes.ts';
import { TEST_POSTGRES_URL } from '../../test/support/services.ts';
import { builtEntry } from '../support/built-entry.ts';
import { type Figures, fmt, measure, median, processCpuMicros, ratio } from '../support/measure.ts';
import { progressBar } from '../support/progress-bar.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    database: { type: 'string', default: 'pglite' },
    rounds: { type: 'string', default: '5' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

const dataDir = mkdtempSync(path.join(tmpdir(), 'reelroom-bench-'));
const port = await freePort();
const env: Record<string, string> = {
  DATA_DIR: dataDir,
  PORT: String(port),
  HOST: '127.0.0.1',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
};
let dropDatabase: (() => Promise<void>) | undefined;
if (values.database === 'postgres') {
  const name = `reelroom_bench_${randomUUID().replaceAll('-', '')}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  env.DATABASE_URL = url.toString();
  env.JWT_SECRET = randomUUID() + randomUUID();
  dropDatabase = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
}

// The node logs a line per request as in production, into a file: piped back here, parsing
// every line would take CPU from autocannon in this process and lower every figure.
const node = await spawnEntry(builtEntry('api-main'), env, {
  url: `http://127.0.0.1:${port}`,
  stdoutFile: path.join(dataDir, 'api.log'),
});
const signup = await fetch(`${node.url}/api/v1/auth/signup`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    email: `${randomUUID()}@bench.test`,
    password: 'correct horse battery',
    name: 'Bench',
  }),
});
const { accessToken } = (await signup.json()) as { accessToken: string };
const meBody = await (
  await fetch(`${node.url}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })
).text();

const bareTrivial = await spawnEntry(
  'bench/support/bare-json-server.ts',
  {},
  { args: ['{"status":"ok"}'] },
);
// The second bare server answers the same bytes as /api/v1/me.
const bareMeServer = await spawnEntry('bench/support/bare-json-server.ts', {}, { args: [meBody] });

// The machine's speed drifts (shared cores), so the servers take turns: each round measures
// all four, and the figures are medians over the rounds. Server CPU per request (from /proc)
// is printed beside them: it moves far less with the machine than requests per second do.
const run = { seconds, connections };
const auth = { headers: { authorization: `Bearer ${accessToken}` } };
const targets = [
  { name: 'bare node:http (health JSON)', server: bareTrivial, url: `${bareTrivial.url}/` },
  { name: 'GET /health', server: node, url: `${node.url}/health` },
  { name: 'bare node:http (me JSON)', server: bareMeServer, url: `${bareMeServer.url}/` },
  { name: 'GET /api/v1/me (JWT + database)', server: node, url: `${node.url}/api/v1/me`, ...auth },
] as const;
type Round = Figures & { cpuMicrosPerRequest: number };
const results = targets.map(() => [] as Round[]);
try {
  for (const target of targets) await measure(target.url, { ...target, seconds: 2, connections });
  const bar = progressBar(rounds * targets.length);
  for (let round = 0; round < rounds; round++) {
    for (const [index, target] of targets.entries()) {
      const pid = target.server.child.pid!;
      const cpuBefore = processCpuMicros(pid);
      const figures = await measure(target.url, { ...target, ...run });
      const cpuMicrosPerRequest = (processCpuMicros(pid) - cpuBefore) / figures.completed;
      results[index]!.push({ ...figures, cpuMicrosPerRequest });
      bar.tick();
    }
  }
  bar.done();

  const summary = results.map((rows) => ({
    requestsPerSecond: median(rows.map((r) => r.requestsPerSecond)),
    p50Ms: median(rows.map((r) => r.p50Ms)),
    p99Ms: median(rows.map((r) => r.p99Ms)),
    cpu: median(rows.map((r) => r.cpuMicrosPerRequest)),
    errors: rows.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  }));
  console.log(
    `\nbench/rest — ${rounds} rounds of ${seconds}s, ${connections} connections, database ${values.database} (medians)`,
  );
  console.log(
    'route'.padEnd(36),
    'req/s'.padStart(10),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'µs CPU/req'.padStart(11),
    'errors'.padStart(7),
  );
  for (const [index, f] of summary.entries()) {
    console.log(
      targets[index]!.name.padEnd(36),
      fmt(f.requestsPerSecond, 0).padStart(10),
      fmt(f.p50Ms, 1).padStart(8),
      fmt(f.p99Ms, 1).padStart(8),
      fmt(f.cpu, 1).padStart(11),
      String(f.errors).padStart(7),
    );
  }
  // Ratios per round (both sides measured moments apart), then their median.
  const roundRatios = (route: number, baseline: number) =>
    median(
      results[route]!.map((r, i) =>
        ratio(r.requestsPerSecond, results[baseline]![i]!.requestsPerSecond),
      ),
    );
  const cpuRatio = (route: number, baseline: number) =>
    ratio(summary[baseline]!.cpu, summary[route]!.cpu);
  const trivialRatio = roundRatios(1, 0);
  const meRatio = roundRatios(3, 2);
  console.log(
    `\ntrivial / bare       = ${fmt(trivialRatio)}  (target ≥ 0.80) ${trivialRatio >= 0.8 ? 'met' : 'MISSED'}   by CPU per request ${fmt(cpuRatio(1, 0))}`,
  );
  console.log(
    `authenticated / bare = ${fmt(meRatio)}  (target ≥ 0.60) ${meRatio >= 0.6 ? 'met' : 'MISSED'}   by CPU per request ${fmt(cpuRatio(3, 2))}`,
  );
} finally {
  await Promise.all([node.stop(), bareTrivial.stop(), bareMeServer.stop()]);
  await dropDatabase?.();
  rmSync(dataDir, { recursive: true, force: true });
}
