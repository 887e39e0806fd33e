import { afterAll, describe, expect, it } from 'vitest';
import {
  type ApiResponse,
  call,
  eventually,
  expectUnavailable,
  isRunning,
  ok,
  SHORT_SPEC,
  signupWithProject,
  startFaultCluster,
} from './support/fault-cluster.ts';
import { startThrowawayPostgres } from './support/throwaway-postgres.ts';

// Postgres stopped hard (`pg_ctl stop -m immediate`, a crash as far as clients can tell) under
// a running API node, then started again: the node says it is not ready and answers 503 (not
// 500) meanwhile, and afterwards everything written before is there and new requests work.
// The cluster is the test's own; the shared Postgres is never touched.

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Postgres restarted', () => {
  it('/ready 503 and requests 503 while it is down; afterwards 200 and nothing lost', async () => {
    const pg = await startThrowawayPostgres();
    cleanups.push(() => pg.destroy());
    const c = await startFaultCluster();
    cleanups.push(() => c.close());
    const api = await c.startApi({ databaseUrl: pg.url });
    const member = await signupWithProject(api.url);
    const { render } = (await ok(api.url, `/projects/${member.projectId}/renders`, {
      token: member.token,
      json: { spec: SHORT_SPEC },
    })) as { render: { id: string } };
    expect((await call(api.url, '/ready')).status).toBe(200);

    // Requests keep coming through the whole outage, so some are in flight when Postgres
    // goes and some arrive while it recovers: each is answered 200 or 503, never 500.
    const seen = new Map<string, number>();
    let hammering = true;
    const hammer = (async () => {
      while (hammering) {
        const answers = await Promise.all([
          call(api.url, '/workspaces', { token: member.token }),
          call(api.url, `/projects/${member.projectId}`, { token: member.token }),
        ]);
        for (const answer of answers) {
          const key = `${answer.status} ${(answer.body.error as { code?: string })?.code ?? ''}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pg.stopImmediately();
    await eventually(async () => expect((await call(api.url, '/ready')).status).toBe(503), 30_000);
    expect((await call(api.url, '/health')).status).toBe(200);
    const token = member.token;
    // Each says so at once (the database pool retries its connection within a second), not
    // after waiting out a long reconnection backoff.
    const promptly = async (response: Promise<ApiResponse>, what: string) => {
      const started = Date.now();
      expectUnavailable(await response, what);
      expect(Date.now() - started, `${what}: ms to answer`).toBeLessThan(5_000);
    };
    await promptly(call(api.url, '/me', { token }), 'GET /me');
    await promptly(call(api.url, '/workspaces', { token }), 'GET /workspaces');
    await promptly(
      call(api.url, '/projects', {
        token,
        json: { workspaceId: member.workspaceId, title: 'During', topic: 'the outage' },
      }),
      'POST /projects',
    );
    expect(isRunning(api.child)).toBe(true);

    await pg.start();
    await eventually(async () => expect((await call(api.url, '/ready')).status).toBe(200), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    hammering = false;
    await hammer;
    expect([...seen.keys()].sort()).toEqual(['200 ', '503 service_unavailable']);
    // Everything committed before the crash is there.
    const { workspaces } = (await ok(api.url, '/workspaces', { token })) as {
      workspaces: Array<{ id: string }>;
    };
    expect(workspaces.map((workspace) => workspace.id)).toContain(member.workspaceId);
    await ok(api.url, `/projects/${member.projectId}`, { token });
    expect(
      ((await ok(api.url, `/renders/${render.id}`, { token })) as { render: { id: string } }).render
        .id,
    ).toBe(render.id);
    // And new requests work, writes included.
    await ok(api.url, '/me', { token });
    await ok(api.url, '/projects', {
      token,
      json: { workspaceId: member.workspaceId, title: 'After', topic: 'the outage' },
    });
    expect(isRunning(api.child)).toBe(true);
  });
});
