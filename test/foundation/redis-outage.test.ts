import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { ThrowawayRedis } from '../support/throwaway-redis.ts';

// A node on a Redis of the test's own, which the test kills and brings back.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function nodeOnThrowawayRedis(): Promise<{ node: TestNode; redis: ThrowawayRedis }> {
  const redis = await ThrowawayRedis.start();
  cleanups.push(() => redis.stop());
  const node = await startTestNode({ config: { redisUrl: redis.url } });
  cleanups.push(async () => {
    // Closing needs Redis back (the node says goodbye to it); a test that left it down restarts it.
    await redis.start().catch(() => undefined);
    await node.close();
  });
  return { node, redis };
}

describe('a Redis outage', () => {
  it('makes login answer 503 with Retry-After at once, and login works again once Redis is back', async () => {
    const { node, redis } = await nodeOnThrowawayRedis();
    const credentials = {
      email: `${randomUUID()}@example.test`,
      password: 'correct horse battery',
      name: 'Ada',
    };
    const signup = await node.request('/api/v1/auth/signup', { method: 'POST', json: credentials });
    expect(signup.status).toBe(201);
    const login = () =>
      node.request('/api/v1/auth/login', {
        method: 'POST',
        json: { email: credentials.email, password: credentials.password },
      });
    expect((await login()).status).toBe(200);

    await redis.stop();
    // Into the outage, where the node's reconnection attempts are at their longest interval.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const started = performance.now();
    const refused = await login();
    const elapsedMs = Math.round(performance.now() - started);
    console.log(`login during the outage answered ${refused.status} after ${elapsedMs} ms`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: { code: 'service_unavailable' } });
    // Readiness says the same.
    expect((await node.request('/ready')).status).toBe(503);

    await redis.start();
    await vi.waitFor(async () => expect((await login()).status).toBe(200), {
      timeout: 10_000,
      interval: 100,
    });
  });
});
