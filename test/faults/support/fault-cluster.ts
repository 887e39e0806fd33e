import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { expect, vi } from 'vitest';
import { redisConnectionFactory } from '../../../realtime/index.ts';
import {
  RedisJobQueue,
  type RenderJobData,
  renderQueuePrefix,
} from '../../../render-farm/index.ts';
import type { Database } from '../../../server/db/index.ts';
import { startWorker, type WorkerProcess } from '../../render-farm/worker-processes.ts';
import { openTestPostgres } from '../../support/databases.ts';
import { type NodeProcess, spawnEntry } from '../../support/processes.ts';
import { startThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.ts';

/**
 * The distributed mode as the fault suite runs it: API nodes (`server/api-main.ts`) and render
 * workers (`server/worker-main.ts`) as real processes, configured only through the
 * environment, on a throwaway Postgres database and a throwaway redis-server of the test's
 * own, with short leases and a fast reconciler so that what a crash leaves is repaired within
 * seconds.
 */
export interface FaultCluster {
  database: Database & { url: string };
  redis: ThrowawayRedis;
  redisKeyPrefix: string;
  storageDir: string;
  /** The test's own view of the render queue (job state, keys). */
  queue: RedisJobQueue<RenderJobData>;
  /** Every worker started so far, for their logs. */
  workers: WorkerProcess[];
  /** An API node; with `crashPoints` it kills itself at those points. */
  startApi(options?: StartOptions & { databaseUrl?: string }): Promise<NodeProcess>;
  /** A render worker (RENDER_CONCURRENCY 1). */
  startWorker(options?: StartOptions): Promise<WorkerProcess>;
  /**
   * Makes the queue forget a job, as a Redis restart without persistence would: its hash and
   * its stream entry are deleted (on the throwaway Redis, under this cluster's prefix).
   */
  loseJob(jobId: string): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** REELROOM_CRASH_POINTS. */
  crashPoints?: string[];
  /** More environment. */
  env?: Record<string, string>;
}

/** Seconds of the leases (queue and outbox) and of the reconciler's interval. */
export const FAULT_TIMINGS = { leaseSeconds: 2, reconcileSeconds: 1 } as const;

export async function startFaultCluster(
  options: { redis?: ThrowawayRedis } = {},
): Promise<FaultCluster> {
  const database = await openTestPostgres();
  const redis = options.redis ?? (await startThrowawayRedis());
  const storageDir = await mkdtemp(join(tmpdir(), 'reelroom-faults-'));
  const redisKeyPrefix = `test-${randomUUID()}`;
  const jwtSecret = randomBytes(32).toString('base64url');
  const queue = new RedisJobQueue<RenderJobData>({
    redis: redisConnectionFactory({ url: redis.url }),
    prefix: renderQueuePrefix(redisKeyPrefix),
    logger: { info: () => {}, error: () => {} },
  });
  const apis: NodeProcess[] = [];
  const workers: WorkerProcess[] = [];
  const common = (start: StartOptions) => ({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATA_DIR: storageDir,
    STORAGE_DIR: storageDir,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: redisKeyPrefix,
    JWT_SECRET: jwtSecret,
    RENDER_LEASE_SECONDS: String(FAULT_TIMINGS.leaseSeconds),
    OUTBOX_LEASE_SECONDS: String(FAULT_TIMINGS.leaseSeconds),
    RECONCILE_INTERVAL_SECONDS: String(FAULT_TIMINGS.reconcileSeconds),
    ...(start.crashPoints ? { REELROOM_CRASH_POINTS: start.crashPoints.join(',') } : {}),
    ...start.env,
  });
  return {
    database,
    redis,
    redisKeyPrefix,
    storageDir,
    queue,
    workers,
    async startApi(start = {}) {
      const node = await spawnEntry(
        'server/api-main.ts',
        {
          ...common(start),
          PORT: '0',
          HOST: '127.0.0.1',
          DATABASE_URL: start.databaseUrl ?? database.url,
        },
        { timeoutMs: 60_000 },
      );
      apis.push(node);
      return node;
    },
    async startWorker(start = {}) {
      const worker = await startWorker(
        { ...common(start), DATABASE_URL: database.url },
        'server/worker-main.ts',
      );
      workers.push(worker);
      return worker;
    },
    async loseJob(jobId) {
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      try {
        const key = `${queue.prefix}:job:${jobId}`;
        const entry = await client.hGet(key, 'entry');
        if (entry) await client.xDel(`${queue.prefix}:stream`, entry);
        await client.del(key);
      } finally {
        client.destroy();
      }
    },
    async close() {
      await Promise.allSettled(apis.map((node) => node.stop('SIGKILL')));
      await Promise.allSettled(workers.map((worker) => worker.killHard()));
      await queue.close();
      if (!options.redis) await redis.close();
      await database.close();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the signal that ended `child` (SIGKILL for a crash point), within `timeoutMs`. */
export async function exitOf(child: ChildProcess, timeoutMs = 60_000): Promise<string | number> {
  if (child.exitCode === null && child.signalCode === null) {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      await once(child, 'exit');
    } finally {
      clearTimeout(timer);
    }
  }
  return child.signalCode ?? child.exitCode ?? 'unknown';
}

/** Whether the process is still running. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  /** The Retry-After header, if any. */
  retryAfter: string | null;
}

/** One JSON request to an API node (`/api/v1` prefixed unless the path starts at the root). */
export async function call(
  baseUrl: string,
  path: string,
  init: { token?: string; json?: unknown; method?: string } = {},
): Promise<ApiResponse> {
  const url = path.startsWith('/api/') || !path.startsWith('/') ? path : `/api/v1${path}`;
  const response = await fetch(`${baseUrl}${url.startsWith('/') ? url : `/${url}`}`, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, body, retryAfter: response.headers.get('retry-after') };
}

/** `call`, expecting a 2xx. */
export async function ok(
  baseUrl: string,
  path: string,
  init: { token?: string; json?: unknown; method?: string } = {},
): Promise<Record<string, unknown>> {
  const response = await call(baseUrl, path, init);
  if (response.status >= 300) {
    throw new Error(
      `${init.method ?? 'GET'} ${path}: ${response.status} ${JSON.stringify(response.body)}`,
    );
  }
  return response.body;
}

export interface Member {
  token: string;
  workspaceId: string;
  projectId: string;
}

/** Signs up a fresh user (their own workspace and wallet) and makes a project. */
export async function signupWithProject(baseUrl: string): Promise<Member> {
  const { accessToken: token } = (await ok(baseUrl, '/auth/signup', {
    json: { email: `${randomUUID()}@example.test`, password: 'correct horse battery', name: 'F' },
  })) as { accessToken: string };
  const { workspaces } = (await ok(baseUrl, '/workspaces', { token })) as {
    workspaces: Array<{ id: string }>;
  };
  const workspaceId = workspaces[0]!.id;
  const { project } = (await ok(baseUrl, '/projects', {
    token,
    json: { workspaceId, title: 'Faults', topic: 'crash points' },
  })) as { project: { id: string } };
  return { token, workspaceId, projectId: project.id };
}

/** A render of about a second of encoding. */
export const SHORT_SPEC = {
  width: 160,
  height: 90,
  fps: 10,
  scenes: [
    { text: 'Survives a crash', durationSec: 1, background: { type: 'color', color: '#335577' } },
  ],
} as const;

/** Waits (bounded) until `check` passes. */
export function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 60_000,
  interval = 100,
): Promise<T> {
  return vi.waitFor(check, { timeout: timeoutMs, interval });
}

/** The renders the workers logged as `outcome`, by render id (several lines: several settles). */
export function settledAs(workers: WorkerProcess[], renderId: string, outcome: string): number {
  return workers
    .flatMap((worker) => worker.logs)
    .filter(
      (log) => log.msg === 'render settled' && log.renderId === renderId && log.outcome === outcome,
    ).length;
}

/** Asserts a response is a 503 `service_unavailable` (not a 500) with a Retry-After. */
export function expectUnavailable(response: ApiResponse, what: string): void {
  expect(response.status, `${what}: ${JSON.stringify(response.body)}`).toBe(503);
  expect(response.body).toMatchObject({ error: { code: 'service_unavailable' } });
  expect(Number(response.retryAfter), `${what}: Retry-After`).toBeGreaterThan(0);
}
