// bench/rest: an authenticated GET /api/v1/me and the trivial GET /health on a Reelroom node,
// beside a bare node:http server answering the same JSON, all measured in this run.
// Targets: trivial ≥ 0.8× bare, authenticated ≥ 0.6× bare (requests per second).
//
//   npm run bench:rest [-- --seconds 10 --connections 50 --database postgres]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { freePort, spawnEntry } from '../../test/support/processes.ts';
import { TEST_POSTGRES_URL } from '../../test/support/services.ts';
import { fmt, measure, ratio } from '../support/measure.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    database: { type: 'string', default: 'pglite' },
  },
});
const seconds = Number(values.seconds);
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

const node = await spawnEntry('server/api-main.ts', env, { url: `http://127.0.0.1:${port}` });
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

const warm = { seconds: 2, connections };
const run = { seconds, connections };
try {
  await measure(`${bareTrivial.url}/`, warm);
  const bare = await measure(`${bareTrivial.url}/`, run);
  await measure(`${node.url}/health`, warm);
  const trivial = await measure(`${node.url}/health`, run);
  const bareAuth = await measure(`${bareMeServer.url}/`, run);
  const auth = { headers: { authorization: `Bearer ${accessToken}` } };
  await measure(`${node.url}/api/v1/me`, { ...warm, ...auth });
  const me = await measure(`${node.url}/api/v1/me`, { ...run, ...auth });

  const rows = [
    ['bare node:http (health JSON)', bare],
    ['GET /health', trivial],
    ['bare node:http (me JSON)', bareAuth],
    ['GET /api/v1/me (JWT + database)', me],
  ] as const;
  console.log(
    `\nbench/rest — ${seconds}s, ${connections} connections, database ${values.database}`,
  );
  console.log(
    'route'.padEnd(36),
    'req/s'.padStart(10),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'errors'.padStart(7),
  );
  for (const [name, f] of rows) {
    console.log(
      name.padEnd(36),
      fmt(f.requestsPerSecond, 0).padStart(10),
      fmt(f.p50Ms, 1).padStart(8),
      fmt(f.p99Ms, 1).padStart(8),
      String(f.errors + f.non2xx).padStart(7),
    );
  }
  const trivialRatio = ratio(trivial.requestsPerSecond, bare.requestsPerSecond);
  const meRatio = ratio(me.requestsPerSecond, bareAuth.requestsPerSecond);
  console.log(
    `\ntrivial / bare       = ${fmt(trivialRatio)}  (target ≥ 0.80) ${trivialRatio >= 0.8 ? 'met' : 'MISSED'}`,
  );
  console.log(
    `authenticated / bare = ${fmt(meRatio)}  (target ≥ 0.60) ${meRatio >= 0.6 ? 'met' : 'MISSED'}`,
  );
} finally {
  await Promise.all([node.stop(), bareTrivial.stop(), bareMeServer.stop()]);
  await dropDatabase?.();
  rmSync(dataDir, { recursive: true, force: true });
}
