import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { openTestPostgres } from '../support/databases.ts';
import { runEntry, spawnEntry } from '../support/processes.ts';

const credentials = {
  email: `${randomUUID()}@example.test`,
  password: 'correct horse battery',
  name: 'Ada',
};

async function post(url: string, body: unknown) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('embedded mode (npm start with no configuration)', () => {
  let dataDir: string;
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a signed-up user across a graceful restart, on PGlite under DATA_DIR', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'reelroom-embedded-'));
    const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' };

    const first = await spawnEntry('server/main.ts', env);
    const health = await fetch(`${first.url}/health`);
    expect(health.status).toBe(200);
    const healthRequestId = health.headers.get('x-request-id');
    expect(healthRequestId).toMatch(/^[\w-]{8}-[0-9a-z]+$/);
    // A caller's own request id is kept, so its logs and ours can be joined.
    const traced = await fetch(`${first.url}/api/v1/me`, {
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(traced.status).toBe(401);
    expect(traced.headers.get('x-request-id')).toBe('trace-42');
    const ready = await fetch(`${first.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: { ok: true } },
    });
    expect((await post(`${first.url}/api/v1/auth/signup`, credentials)).status).toBe(201);
    expect(await first.stop('SIGTERM')).toBe(0);
    // Every log line is JSON from pino.
    const logLines = first.output.filter((line) => line.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(() => JSON.parse(line)).not.toThrow();
    const requestLines = logLines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'request');
    // Succeeding probes log at debug, so this node (LOG_LEVEL info) wrote no line for them.
    expect(requestLines.filter((entry) => entry.requestId === healthRequestId)).toEqual([]);
    expect(requestLines.some((entry) => entry.path === '/ready')).toBe(false);
    expect(requestLines).toContainEqual(
      expect.objectContaining({ path: '/api/v1/auth/signup', status: 201 }),
    );
    expect(requestLines).toContainEqual(
      expect.objectContaining({ requestId: 'trace-42', path: '/api/v1/me', status: 401 }),
    );

    const second = await spawnEntry('server/main.ts', env);
    try {
      const login = await post(`${second.url}/api/v1/auth/login`, {
        email: credentials.email,
        password: credentials.password,
      });
      expect(login.status).toBe(200);
      const session = (await login.json()) as { accessToken: string; user: { email: string } };
      expect(session.user.email).toBe(credentials.email);
      const me = await fetch(`${second.url}/api/v1/me`, {
        headers: { authorization: `Bearer ${session.accessToken}` },
      });
      expect(me.status).toBe(200);
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
  });

  it('refuses to start on an invalid variable, with one line naming it', async () => {
    const result = await runEntry('server/main.ts', {
      PORT: 'eighty',
      DATA_DIR: path.join(tmpdir(), randomUUID()),
    });
    expect(result.code).toBe(1);
    const lines = result.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^reelroom: Invalid configuration: PORT: /);
  });
});

describe('distributed mode (DATABASE_URL)', () => {
  it('npm run migrate and the API node run the same migrations on real Postgres', async () => {
    const database = await openTestPostgres();
    // openTestPostgres migrated it already; drop the schema to start from nothing.
    await database.db.execute(
      'drop schema public cascade; create schema public; drop schema if exists drizzle cascade',
    );
    const env = {
      DATABASE_URL: database.url,
      JWT_SECRET: 'x'.repeat(40),
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: path.join(tmpdir(), randomUUID()),
    };
    try {
      const migrated = await runEntry('server/migrate-main.ts', env);
      expect(migrated.output).toContain('migrations applied (postgres)');
      expect(migrated.code).toBe(0);
      const api = await spawnEntry('server/api-main.ts', env);
      try {
        const signup = await post(`${api.url}/api/v1/auth/signup`, credentials);
        expect(signup.status).toBe(201);
        const ready = await fetch(`${api.url}/api/v1/ready`);
        expect(ready.status).toBe(200);
      } finally {
        expect(await api.stop('SIGTERM')).toBe(0);
      }
      expect(await database.db.$count(tables.users)).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('refuses DATABASE_URL without a shared JWT_SECRET', async () => {
    const result = await runEntry('server/api-main.ts', {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    });
    expect(result.code).toBe(1);
    expect(result.output.trim()).toMatch(/^reelroom: Invalid configuration: JWT_SECRET: /);
  });
});
