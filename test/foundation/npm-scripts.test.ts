// `npm start` and friends as a supervisor runs them: SIGTERM goes to the npm process, and must
// reach node, or node runs on (holding the port) after npm has gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openTestPostgres } from '../support/databases.ts';
import { REPO_ROOT } from '../support/processes.ts';
import { TEST_REDIS_URL } from '../support/services.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Pids of the processes whose parent is `pid` (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) children.push(Number(entry));
  }
  return children;
}

/** Whether a process still runs (a zombie waiting for its parent does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs `npm run <script>` with exactly `env` and waits for a log line with `msg`. */
async function npmRun(
  script: string,
  env: Record<string, string>,
  msg: string,
): Promise<{ npm: ChildProcess; line: Record<string, unknown>; output: string[] }> {
  const npm = spawn('npm', ['run', '--silent', script], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      npm_config_update_notifier: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(npm, 'exit');
  cleanups.push(async () => {
    if (npm.exitCode === null && npm.signalCode === null) {
      npm.kill('SIGKILL');
      await exited;
    }
  });
  const output: string[] = [];
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm run ${script} did not log "${msg}":\n${output.join('\n')}`)),
      45_000,
    );
    const onData = (chunk: Buffer) => {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(text);
        try {
          const parsed = JSON.parse(text) as Record<string, unknown>;
          if (parsed.msg === msg || String(parsed.msg).startsWith(msg)) {
            clearTimeout(timer);
            resolve(parsed);
          }
        } catch {
          // Not a log line.
        }
      }
    };
    npm.stdout.on('data', onData);
    npm.stderr.on('data', onData);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`npm run ${script} exited with ${code}:\n${output.join('\n')}`));
    });
  });
  return { npm, line, output };
}

/** SIGTERM to npm, as `kill` or a supervisor sends it; resolves once npm and node are gone. */
async function terminate(npm: ChildProcess): Promise<{ nodePids: number[] }> {
  const nodePids = await childrenOf(npm.pid!);
  expect(nodePids.length).toBeGreaterThan(0);
  const exited = once(npm, 'exit');
  npm.kill('SIGTERM');
  await exited;
  await vi.waitFor(
    async () => {
      for (const pid of nodePids) expect(await running(pid)).toBe(false);
    },
    { timeout: 15_000, interval: 100 },
  );
  return { nodePids };
}

describe('npm scripts under SIGTERM', () => {
  it('npm start: node gets the signal, stops gracefully and releases the port', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'reelroom-npm-start-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { npm, line, output } = await npmRun(
      'start',
      { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' },
      'Reelroom is running',
    );
    const url = String(line.url);
    expect(await accepts(url)).toBe(true);
    // npm start runs the bundle in .build/: the files its modules find beside their sources
    // (migrations, the web app, the price table) are still found.
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const signup = await fetch(`${url}/api/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: `${randomUUID()}@npm-start.test`,
        password: 'correct horse battery',
        name: 'Npm Start',
      }),
    });
    expect(signup.status).toBe(201);
    await terminate(npm);
    expect(await accepts(url)).toBe(false);
    // It stopped through its own shutdown, not by being killed.
    expect(output.some((text) => text.includes('"msg":"stopped"'))).toBe(true);
  });

  it('npm run start:api and start:worker pass SIGTERM on as well', async () => {
    const database = await openTestPostgres();
    cleanups.push(() => database.close());
    const storageDir = await mkdtemp(path.join(tmpdir(), 'reelroom-npm-worker-'));
    cleanups.push(() => rm(storageDir, { recursive: true, force: true }));
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `test-${randomUUID()}`,
      JWT_SECRET: 'a-test-secret-that-is-long-enough-for-hs256-0123456789',
      STORAGE_DIR: storageDir,
      HOST: '127.0.0.1',
      PORT: '0',
    };
    const api = await npmRun('start:api', env, 'api node listening');
    const worker = await npmRun('start:worker', env, 'render worker started');
    await terminate(worker.npm);
    expect(worker.output.some((text) => text.includes('"msg":"stopped"'))).toBe(true);
    const url = String(api.line.url);
    await terminate(api.npm);
    expect(await accepts(url)).toBe(false);
  });
});
