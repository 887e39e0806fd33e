import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RenderWire } from '../../shared/render-spec.ts';
import type { RenderProgressEvent } from '../../shared/socket-events.ts';
import { openTestPostgres } from '../support/databases.ts';
import { type NodeProcess, spawnEntry } from '../support/processes.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { describeMp4 } from './media.ts';
import { startWorker as startFixtureWorker } from './worker-processes.ts';

// The real entry files: `npm start` (embedded, workers in-process) and `npm run start:api` +
// `npm run start:worker` (distributed), configured only through the environment.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'reelroom-entry-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Listens on port 0 and logs (at `info`) the URL it got, which `spawnEntry` waits for. */
async function start(entry: string, env: Record<string, string>): Promise<NodeProcess> {
  const node = await spawnEntry(
    entry,
    { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    { timeoutMs: 60_000 },
  );
  cleanups.push(async () => void (await node.stop('SIGKILL')));
  return node;
}

/** Signs up, makes a project, submits a small render; returns what the checks need. */
async function submitRender(url: string) {
  const call = async (path: string, init: { token?: string; json?: unknown } = {}) => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method: init.json === undefined ? 'GET' : 'POST',
      headers: {
        ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    if (response.status >= 300)
      throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };
  const { accessToken: token } = (await call('/auth/signup', {
    json: { email: `${randomUUID()}@example.test`, password: 'correct horse battery', name: 'E' },
  })) as { accessToken: string };
  const { workspaces } = (await call('/workspaces', { token })) as {
    workspaces: Array<{ id: string }>;
  };
  const { project } = (await call('/projects', {
    token,
    json: { workspaceId: workspaces[0]!.id, title: 'Entry', topic: 'renders' },
  })) as { project: { id: string } };
  const socket = io(url, { auth: { token }, transports: ['websocket'] });
  cleanups.push(async () => void socket.close());
  const events: RenderProgressEvent[] = [];
  socket.on('render:progress', (event: RenderProgressEvent) => events.push(event));
  expect(
    await socket.timeout(10_000).emitWithAck('project:join', { projectId: project.id }),
  ).toEqual({
    ok: true,
  });
  const { render } = (await call(`/projects/${project.id}/renders`, {
    token,
    json: {
      spec: {
        width: 320,
        height: 180,
        fps: 25,
        scenes: [
          {
            text: 'From the entry point',
            durationSec: 1.5,
            background: { type: 'color', color: '#445566' },
          },
        ],
      },
    },
  })) as { render: RenderWire };
  const completed = async () => {
    let now: RenderWire | undefined;
    await vi.waitFor(
      async () => {
        ({ render: now } = (await call(`/renders/${render.id}`, { token })) as {
          render: RenderWire;
        });
        expect(now.status).toBe('completed');
      },
      { timeout: 60_000, interval: 200 },
    );
    return now!;
  };
  return { token, render, events, completed };
}

describe('entry points', () => {
  it('npm start renders in-process with no configuration and stops cleanly on SIGTERM', async () => {
    const dataDir = await tempDir();
    const node = await start('server/main.ts', { DATA_DIR: dataDir });
    const { render, events, completed } = await submitRender(node.url);
    const done = await completed();
    expect(done.durationSec).toBeCloseTo(1.5, 5);
    // The default STORAGE_DIR is DATA_DIR/storage.
    const mp4 = await describeMp4(
      join(dataDir, 'storage', 'renders', done.projectId, `${render.id}.mp4`),
    );
    expect(Math.abs(mp4.durationSec - 1.5)).toBeLessThanOrEqual(0.1);
    await vi.waitFor(() => expect(events.map((event) => event.status)).toContain('completed'));
    expect(await node.stop('SIGTERM')).toBe(0);
  });

  it('npm run start:api submits, npm run start:worker renders; progress reaches the room', async () => {
    const database = await openTestPostgres();
    cleanups.push(() => database.close());
    const storageDir = await tempDir();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `test-${randomUUID()}`,
      STORAGE_DIR: storageDir,
      JWT_SECRET: randomUUID() + randomUUID(),
      DATA_DIR: await tempDir(),
    };
    const api = await start('server/api-main.ts', env);
    const { render, events, completed } = await submitRender(api.url);
    // The API node queues it (and says so in the room); with Redis it renders nothing itself.
    await vi.waitFor(() => expect(events.map((event) => event.status)).toEqual(['queued']));

    const worker = await startWorkerEntry(env);
    cleanups.push(() => worker.stop());
    const done = await completed();
    expect(done.attempt).toBe(1);
    await vi.waitFor(() => expect(events.map((event) => event.status)).toContain('completed'));
    const statuses = events.filter((event) => event.renderId === render.id).map((e) => e.status);
    expect(statuses[0]).toBe('queued');
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('completed');
  });
});

/** `server/worker-main.ts` itself (not the test fixture), waiting for its start-up line. */
async function startWorkerEntry(env: Record<string, string>) {
  return startFixtureWorker(env, 'server/worker-main.ts');
}
