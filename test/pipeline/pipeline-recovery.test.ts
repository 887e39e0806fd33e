import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { and, eq, inArray, lt } from 'drizzle-orm';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { pipelineQueuePrefix } from '../../server/pipeline/pipeline-runtime.ts';
import { stepChargeReference, stepJobId } from '../../server/pipeline/pipeline-store.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import type { PipelineProgressEvent } from '../../shared/socket-events.ts';
import { expectLedgerConsistent } from '../billing/support/wallets.ts';
import { FakeLlmServer, speechLikeWav } from '../coach/support/fake-llm-server.ts';
import { connectSocket, type TestSocket } from '../realtime/support/clients.ts';
import { openTestPostgres } from '../support/databases.ts';
import { type NodeProcess, spawnEntry } from '../support/processes.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { until } from './support/media-checks.ts';

/** Charge entries of a reference and the refunds of them, in a workspace's ledger. */
async function chargesAndRefunds(
  db: Awaited<ReturnType<typeof openTestPostgres>>['db'],
  workspaceId: string,
  reference: string,
) {
  const l = tables.creditLedger;
  const charges = await db
    .select({ id: l.id })
    .from(l)
    .where(and(eq(l.workspaceId, workspaceId), eq(l.reference, reference), lt(l.amount, 0)));
  const refunds =
    charges.length === 0
      ? []
      : await db
          .select({ id: l.id })
          .from(l)
          .where(
            inArray(
              l.refundOf,
              charges.map((c) => c.id),
            ),
          );
  return { charges: charges.length, refunds: refunds.length };
}

describe('pipeline reconciliation (Postgres + Redis)', () => {
  let database: Awaited<ReturnType<typeof openTestPostgres>>;
  let redis: ReturnType<typeof createClient>;
  const nodes: TestNode[] = [];

  beforeAll(async () => {
    database = await openTestPostgres();
    redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes.reverse()) await node.close().catch(() => undefined);
    await redis?.quit().catch(() => undefined);
    await database?.close();
  });

  it('requeues a step whose job the queue lost, and the run completes charged once', async () => {
    // A node without step workers: the step stays queued, so its job can be lost first.
    const api = await startTestNode({
      database,
      redis: true,
      config: { pipeline: { workers: false }, reconcileIntervalMs: 200, reconcileGraceMs: 0 },
    });
    nodes.push(api);
    const prefix = api.redisKeyPrefix;
    const session = await api.signup('Ada');
    const call = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) => {
      const response = await api.request(`/api/v1${path}`, { token: session.accessToken, ...init });
      return (await response.json()) as T;
    };
    const { workspaces } = await call<{ workspaces: Array<{ id: string }> }>('/workspaces');
    const workspaceId = workspaces[0]!.id;
    const { project } = await call<{ project: { id: string } }>('/projects', {
      method: 'POST',
      json: { workspaceId, title: 'Lost jobs', topic: 'queues' },
    });
    await api.services.realtime.editDocument(`project/${project.id}/script`, (doc) => {
      doc.getText('script').insert(0, '# Lost\nA job was lost. It came back.\n');
    });
    const { run } = await call<{ run: PipelineRun }>(`/projects/${project.id}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['voiceover'] },
    });
    const [step] = await database.db
      .select()
      .from(tables.pipelineSteps)
      .where(eq(tables.pipelineSteps.runId, run.id));
    const jobKey = `${pipelineQueuePrefix(prefix)}:job:${stepJobId(step!.id, step!.round)}`;
    await until('the step job on the queue', async () =>
      (await redis.exists(jobKey)) ? true : undefined,
    );

    // The queue loses everything it held (a Redis without persistence restarted).
    const keys = await redis.keys(`${pipelineQueuePrefix(prefix)}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(keys);
    expect(await redis.exists(jobKey)).toBe(0);

    // The reconcile pass finds the queued step unknown to the queue and queues it again.
    await until('the reconciler to requeue the step', async () =>
      (await redis.exists(jobKey)) ? true : undefined,
    );
    const during = await call<{ run: PipelineRun }>(`/pipeline-runs/${run.id}`);
    expect(during.run.steps[0]!.status).toBe('queued');

    // A node with step workers takes it and finishes the run.
    const worker = await startTestNode({
      database,
      redis: true,
      config: {
        redisKeyPrefix: prefix,
        reconcileIntervalMs: 60_000,
        pipeline: { speechProvider: 'espeak' },
      },
    });
    nodes.push(worker);
    const final = await until('the run to finish', async () => {
      const now = await call<{ run: PipelineRun }>(`/pipeline-runs/${run.id}`);
      return ['completed', 'failed', 'cancelled'].includes(now.run.status) ? now.run : undefined;
    });
    expect(final.status, JSON.stringify(final.steps[0]!.error)).toBe('completed');
    expect(final.steps[0]!.artifacts.some((a) => a.kind === 'voiceover')).toBe(true);

    // Charged once for the round, never refunded.
    const l = tables.creditLedger;
    const charges = await database.db
      .select({ id: l.id })
      .from(l)
      .where(
        and(
          eq(l.workspaceId, workspaceId),
          eq(l.reference, stepChargeReference(step!.id, 1)),
          lt(l.amount, 0),
        ),
      );
    expect(charges).toHaveLength(1);
    const refunds = await database.db
      .select({ id: l.id })
      .from(l)
      .where(
        inArray(
          l.refundOf,
          charges.map((c) => c.id),
        ),
      );
    expect(refunds).toHaveLength(0);
    await expectLedgerConsistent(database.db, workspaceId);
  }, 120_000);

  it('finishes a run once when the API node running its step is killed with -9 mid-step', async () => {
    // A database of its own: the nodes of the test before reconcile theirs against another queue.
    const cluster = await openTestPostgres();
    let speechCalls = 0;
    const fake = await FakeLlmServer.start('openai', {
      reply: () => ({
        tokens: [
          '# One\nThe first scene speaks. It has two sentences.\n---\n',
          '# Two\nThe second scene speaks. It has two as well.\n---\n',
          '# Three\nThe last scene. Goodbye for now.\n',
        ],
      }),
      speech: async (request) => {
        speechCalls += 1;
        await new Promise((resolve) => setTimeout(resolve, 700));
        return speechLikeWav(Math.max(0.6, String(request.body.input).length * 0.06));
      },
    });
    const prefix = `test-${randomUUID()}`;
    const dataDir = path.join(tmpdir(), `reelroom-${randomUUID()}`);
    const env = {
      DATABASE_URL: cluster.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      HOST: '127.0.0.1',
      PORT: '0',
      // Shared storage, as the nodes of a deployment share a volume or a bucket.
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      SHUTDOWN_GRACE_SECONDS: '1',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.baseUrl,
      RECONCILE_INTERVAL_SECONDS: '1',
    };
    const processes: NodeProcess[] = [];
    const sockets: TestSocket[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        processes.push(await spawnEntry('server/api-main.ts', env, { timeoutMs: 45_000 }));
      }
      const consumers = processes.map(
        (p) => /"consumer":"(pipeline-[^"]+)"/.exec(p.output.join('\n'))?.[1],
      );
      expect(consumers.every(Boolean)).toBe(true);
      const request = async <T>(
        base: string,
        route: string,
        init: RequestInit & { json?: unknown; token?: string } = {},
      ) => {
        const headers = new Headers(init.headers);
        if (init.token) headers.set('authorization', `Bearer ${init.token}`);
        if (init.json !== undefined) headers.set('content-type', 'application/json');
        const response = await fetch(`${base}/api/v1${route}`, {
          ...init,
          headers,
          ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
        });
        return { status: response.status, body: (await response.json()) as T };
      };
      const first = processes[0]!.url;
      const signup = await request<{ accessToken: string }>(first, '/auth/signup', {
        method: 'POST',
        json: {
          email: `${randomUUID()}@example.test`,
          password: 'correct horse battery',
          name: 'Ada',
        },
      });
      const token = signup.body.accessToken;
      const { body: ws } = await request<{ workspaces: Array<{ id: string }> }>(
        first,
        '/workspaces',
        { token },
      );
      const workspaceId = ws.workspaces[0]!.id;
      const { body: created } = await request<{ project: { id: string } }>(first, '/projects', {
        method: 'POST',
        token,
        json: { workspaceId, title: 'Crash', topic: 'crash safety' },
      });
      const projectId = created.project.id;
      await request(first, '/billing/grants', {
        method: 'POST',
        token,
        json: { workspaceId, credits: 500, reason: 'crash test' },
      });
      const events: PipelineProgressEvent[][] = [[], []];
      for (const [i, p] of processes.entries()) {
        const socket = connectSocket(p.url, token);
        sockets.push(socket);
        socket.on('pipeline:progress', (event) => events[i]!.push(event));
        expect(await socket.timeout(5000).emitWithAck('project:join', { projectId })).toEqual({
          ok: true,
        });
      }
      const { body: started } = await request<{ run: PipelineRun }>(
        first,
        `/projects/${projectId}/pipeline-runs`,
        {
          method: 'POST',
          token,
          json: { steps: ['script', 'voiceover', 'thumbnail'] },
        },
      );
      const runId = started.run.id;
      const steps = await cluster.db
        .select()
        .from(tables.pipelineSteps)
        .where(eq(tables.pipelineSteps.runId, runId));
      const voiceover = steps.find((s) => s.name === 'voiceover')!;
      const jobKey = `${pipelineQueuePrefix(prefix)}:job:${stepJobId(voiceover.id, 1)}`;

      // Mid-step: the voice-over has begun speaking; kill the node that holds its job.
      await until('the voice-over to be speaking', async () =>
        speechCalls > 0 ? true : undefined,
      );
      const holder = await redis.hGet(jobKey, 'consumer');
      const victim = consumers.indexOf(holder ?? '');
      expect(victim, `holder ${holder}`).toBeGreaterThanOrEqual(0);
      await processes[victim]!.stop('SIGKILL');
      const survivor = 1 - victim;
      const callsAtKill = speechCalls;

      const final = await until(
        'the run to finish on the surviving node',
        async () => {
          const { body } = await request<{ run: PipelineRun }>(
            processes[survivor]!.url,
            `/pipeline-runs/${runId}`,
            { token },
          );
          return ['completed', 'failed', 'cancelled'].includes(body.run.status)
            ? body.run
            : undefined;
        },
        90_000,
      );
      expect(final.status, JSON.stringify(final.steps.map((s) => s.error))).toBe('completed');
      expect(final.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);
      expect(final.steps[1]!.artifacts.filter((a) => a.kind === 'voiceover')).toHaveLength(3);
      expect(speechCalls).toBeGreaterThan(callsAtKill);
      // Every step reached its final state once, as the room saw it.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const name of ['script', 'voiceover', 'thumbnail']) {
        const ended = events[survivor]!.filter(
          (e) =>
            e.runId === runId &&
            e.step === name &&
            ['completed', 'failed', 'cancelled'].includes(e.status),
        );
        expect(
          ended.map((e) => e.status),
          name,
        ).toEqual(['completed']);
      }
      // Credits charged once per charged step, none refunded.
      for (const step of steps.filter((s) => s.name !== 'thumbnail')) {
        expect(
          await chargesAndRefunds(cluster.db, workspaceId, stepChargeReference(step.id, 1)),
          step.name,
        ).toEqual({ charges: 1, refunds: 0 });
      }
      await expectLedgerConsistent(cluster.db, workspaceId);
    } finally {
      for (const socket of sockets) socket.disconnect();
      await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
      await fake.close();
      await rm(dataDir, { recursive: true, force: true });
      await cluster.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(keys);
    }
  }, 180_000);
});
