import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { redisConnectionFactory } from '../../realtime/index.ts';
import type { JobQueue, JobQueueOptions } from '../../render-farm/index.ts';
import { MemoryJobQueue, RedisJobQueue, UnrecoverableError } from '../../render-farm/index.ts';
import { TEST_REDIS_URL } from '../support/services.ts';

const redis = redisConnectionFactory({ url: TEST_REDIS_URL });

interface Payload {
  n: number;
}

interface Backend {
  name: string;
  /**
   * Opens a queue; `peer()` is the same queue as another process sees it (a second Redis
   * connection with the same prefix; for the in-process backend, the queue itself).
   */
  open(options?: JobQueueOptions): { queue: JobQueue<Payload>; peer(): JobQueue<Payload> };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const backends: Backend[] = [
  {
    name: 'redis',
    open(options = {}) {
      const prefix = `test-${randomUUID()}`;
      const queue = new RedisJobQueue<Payload>({ redis, prefix, ...options });
      cleanups.push(async () => {
        await queue.destroy();
        await queue.close();
      });
      return {
        queue,
        peer() {
          const peer = new RedisJobQueue<Payload>({ redis, prefix, ...options });
          cleanups.push(() => peer.close());
          return peer;
        },
      };
    },
  },
  {
    name: 'memory',
    open(options = {}) {
      const queue = new MemoryJobQueue<Payload>(options);
      cleanups.push(() => queue.close());
      return { queue, peer: () => queue };
    },
  },
];

describe.each(backends)('job queue ($name)', (backend) => {
  it('delivers a job once, with its data and attempt 1, and completes it', async () => {
    const { queue } = backend.open();
    const { jobId, created } = await queue.add({ n: 1 });
    expect(created).toBe(true);
    const lease = await queue.take('a');
    expect(lease).not.toBeNull();
    expect(lease!.jobId).toBe(jobId);
    expect(lease!.data).toEqual({ n: 1 });
    expect(lease!.attempt).toBe(1);
    expect(await queue.take('b', { blockMs: 50 })).toBeNull();
    expect(await lease!.complete()).toBe(true);
    expect((await queue.getJob(jobId))?.state).toBe('completed');
    expect(await lease!.complete()).toBe(false);
  });

  it('hands jobs out in order and each to one consumer', async () => {
    const { queue, peer } = backend.open();
    const other = peer();
    const ids: string[] = [];
    for (let n = 0; n < 5; n += 1) ids.push((await queue.add({ n })).jobId);
    const leases = await Promise.all([
      queue.take('a'),
      other.take('b'),
      queue.take('c'),
      other.take('d'),
      queue.take('e'),
    ]);
    expect(new Set(leases.map((lease) => lease?.jobId)).size).toBe(5);
    expect(new Set(leases.map((lease) => lease?.jobId))).toEqual(new Set(ids));
  });

  it('returns the first job for a repeated idempotency key or job id', async () => {
    const { queue, peer } = backend.open();
    const first = await queue.add({ n: 1 }, { idempotencyKey: 'k1' });
    const again = await peer().add({ n: 2 }, { idempotencyKey: 'k1' });
    expect(again).toEqual({ jobId: first.jobId, created: false });
    const byId = await queue.add({ n: 3 }, { jobId: first.jobId });
    expect(byId).toEqual({ jobId: first.jobId, created: false });
    const lease = await queue.take('a');
    expect(lease?.data).toEqual({ n: 1 });
    expect(await queue.take('a', { blockMs: 50 })).toBeNull();
  });

  it('retries a failed attempt after a backoff that doubles, counting attempts', async () => {
    const { queue } = backend.open({ backoffMs: 100, maxAttempts: 3 });
    const { jobId } = await queue.add({ n: 1 });
    const first = await queue.take('a');
    expect(await first!.fail(new Error('boom 1'))).toEqual({ outcome: 'retry', delayMs: 100 });
    expect((await queue.getJob(jobId))?.state).toBe('delayed');
    const second = await queue.take('a', { blockMs: 5_000 });
    expect(second?.jobId).toBe(jobId);
    expect(second?.attempt).toBe(2);
    expect(second?.failures).toBe(1);
    expect(second?.lastError).toBe('Error: boom 1');
    expect(await second!.fail(new Error('boom 2'))).toEqual({ outcome: 'retry', delayMs: 200 });
    const third = await queue.take('a', { blockMs: 5_000 });
    expect(third?.attempt).toBe(3);
    expect(await third!.complete()).toBe(true);
  });

  it('dead-letters a job after maxAttempts failures, with its last error', async () => {
    const { queue, peer } = backend.open({ backoffMs: 10, maxAttempts: 2 });
    const { jobId } = await queue.add({ n: 7 });
    const first = await queue.take('a');
    await first!.fail(new Error('first'));
    const second = await queue.take('a', { blockMs: 5_000 });
    expect(await second!.fail(new Error('second'))).toEqual({ outcome: 'dead' });
    const letters = await peer().deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      jobId,
      data: { n: 7 },
      error: 'Error: second',
      attempts: 2,
    });
    expect((await queue.getJob(jobId))?.state).toBe('dead');
    expect(await queue.take('a', { blockMs: 50 })).toBeNull();
  });

  it('dead-letters an unrecoverable failure at once', async () => {
    const { queue } = backend.open({ backoffMs: 10, maxAttempts: 5 });
    const { jobId } = await queue.add({ n: 1 });
    const lease = await queue.take('a');
    const outcome = await lease!.fail(new UnrecoverableError('bad spec'), { retry: false });
    expect(outcome).toEqual({ outcome: 'dead' });
    expect(await queue.deadLetters()).toMatchObject([
      { jobId, error: 'UnrecoverableError: bad spec', attempts: 1 },
    ]);
  });

  it('lets another consumer take over a job whose holder stopped heart-beating', async () => {
    const { queue, peer } = backend.open({ leaseMs: 200 });
    const { jobId } = await queue.add({ n: 1 });
    const silent = await queue.take('silent');
    expect(silent?.attempt).toBe(1);
    const other = peer();
    const takeover = await other.take('rescuer', { blockMs: 5_000 });
    expect(takeover?.jobId).toBe(jobId);
    expect(takeover?.attempt).toBe(2);
    expect(takeover?.failures).toBe(1);
    expect(takeover?.lastError).toContain('silent');
    // The old holder is fenced out: nothing it does changes the job.
    expect(await silent!.heartbeat()).toBe('lost');
    expect(await silent!.complete()).toBe(false);
    expect(await silent!.fail(new Error('late'))).toEqual({ outcome: 'lost' });
    expect(await takeover!.complete()).toBe(true);
    expect(await queue.getJob(jobId)).toMatchObject({ state: 'completed', deliveries: 2 });
  });

  it('keeps a job with its holder while the holder heart-beats', async () => {
    const { queue, peer } = backend.open({ leaseMs: 300 });
    await queue.add({ n: 1 });
    const holder = await queue.take('holder');
    const other = peer();
    const beats = setInterval(() => void holder!.heartbeat(), 50);
    try {
      // Waits well past leaseMs; the heart-beats keep the job from being taken over.
      expect(await other.take('thief', { blockMs: 900 })).toBeNull();
    } finally {
      clearInterval(beats);
    }
    expect(await holder!.complete()).toBe(true);
  });

  it('marks a job whose holders keep going silent as exhausted', async () => {
    const { queue } = backend.open({ leaseMs: 100, maxAttempts: 2 });
    await queue.add({ n: 1 });
    const first = await queue.take('a');
    const second = await queue.take('b', { blockMs: 5_000 });
    expect(second?.exhausted).toBe(false);
    const third = await queue.take('c', { blockMs: 5_000 });
    expect(third?.attempt).toBe(3);
    expect(third?.exhausted).toBe(true);
    expect(await third!.fail(new Error(third!.lastError), { retry: false })).toEqual({
      outcome: 'dead',
    });
    expect(first).not.toBeNull();
  });

  it('cancels a waiting job before anyone takes it', async () => {
    const { queue, peer } = backend.open();
    const { jobId } = await queue.add({ n: 1 });
    expect(await peer().cancel(jobId)).toBe('removed');
    expect(await queue.take('a', { blockMs: 50 })).toBeNull();
    expect((await queue.getJob(jobId))?.state).toBe('cancelled');
    expect(await queue.cancel(jobId)).toBe('unknown');
  });

  it('signals a cancel from another process to the lease holding the job', async () => {
    const { queue, peer } = backend.open();
    const { jobId } = await queue.add({ n: 1 });
    const lease = await queue.take('a');
    expect(lease!.signal.aborted).toBe(false);
    expect(await peer().cancel(jobId)).toBe('signalled');
    await expect.poll(() => lease!.signal.aborted, { timeout: 2_000 }).toBe(true);
    expect(lease!.signal.reason).toBe('cancelled');
    expect(await lease!.heartbeat()).toBe('cancelled');
    expect(await lease!.complete()).toBe(true);
    expect((await queue.getJob(jobId))?.state).toBe('cancelled');
  });

  it('does not retry a failed attempt of a cancelled job', async () => {
    const { queue } = backend.open({ backoffMs: 10 });
    const { jobId } = await queue.add({ n: 1 });
    const lease = await queue.take('a');
    await queue.cancel(jobId);
    expect(await lease!.fail(new Error('killed'))).toEqual({ outcome: 'dead' });
  });

  it('hands a released job to the next consumer at once, keeping the attempt count', async () => {
    const { queue, peer } = backend.open({ maxAttempts: 1 });
    const { jobId } = await queue.add({ n: 1 });
    const first = await queue.take('a');
    expect(await first!.release()).toBe(true);
    const next = await peer().take('b', { blockMs: 2_000 });
    expect(next?.jobId).toBe(jobId);
    expect(next?.attempt).toBe(2);
    expect(next?.failures).toBe(0);
    expect(next?.exhausted).toBe(false);
  });

  it('ends a blocked take when its signal aborts', async () => {
    const { queue } = backend.open();
    const controller = new AbortController();
    const pending = queue.take('a', { blockMs: 30_000, signal: controller.signal });
    controller.abort();
    expect(await pending).toBeNull();
  });

  it('counts waiting, active, delayed and dead jobs (metrics)', async () => {
    const { queue, peer } = backend.open({ backoffMs: 60_000, maxAttempts: 5 });
    expect(await queue.stats()).toEqual({ waiting: 0, active: 0, delayed: 0, dead: 0 });
    for (let n = 0; n < 4; n += 1) await queue.add({ n });
    const held = await queue.take('a');
    await (await queue.take('a'))!.fail(new Error('later'));
    await (await queue.take('a'))!.fail(new UnrecoverableError('never'), { retry: false });
    expect(await peer().stats()).toEqual({ waiting: 1, active: 1, delayed: 1, dead: 1 });
    await held!.complete();
    expect(await queue.stats()).toEqual({ waiting: 1, active: 0, delayed: 1, dead: 1 });
  });

  it('rejects invalid options at construction', () => {
    expect(() => backend.open({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => backend.open({ leaseMs: -1 })).toThrow(/leaseMs/);
  });
});

describe('job queue (redis) prefetch', () => {
  it('hands the next job with a completion and gives back one nobody takes', async () => {
    const prefix = `test-${randomUUID()}`;
    const queue = new RedisJobQueue<Payload>({
      redis,
      prefix,
      prefetch: true,
      leaseMs: 400,
    });
    const other = new RedisJobQueue<Payload>({ redis, prefix });
    cleanups.push(async () => {
      await queue.destroy();
      await queue.close();
      await other.close();
    });
    const ids = [];
    for (let n = 0; n < 3; n += 1) ids.push((await queue.add({ n })).jobId);
    const first = await queue.take('a');
    expect(await first!.complete()).toBe(true);
    // The second job came back with the completion: it is held for consumer a.
    expect((await queue.getJob(ids[1]!))?.state).toBe('active');
    const second = await queue.take('a', { blockMs: 0 });
    expect(second?.jobId).toBe(ids[1]);
    expect(await second!.complete()).toBe(true);
    // a never takes again: after a quarter lease the third job goes back, with no failure.
    const third = await other.take('b', { blockMs: 5_000 });
    expect(third?.jobId).toBe(ids[2]);
    expect(third?.failures).toBe(0);
    expect(await third!.complete()).toBe(true);
  });

  it('gives prefetched jobs back when the queue closes', async () => {
    const prefix = `test-${randomUUID()}`;
    const queue = new RedisJobQueue<Payload>({ redis, prefix, prefetch: true });
    const other = new RedisJobQueue<Payload>({ redis, prefix });
    cleanups.push(async () => {
      await other.destroy();
      await other.close();
    });
    await queue.add({ n: 1 });
    const { jobId } = await queue.add({ n: 2 });
    await (await queue.take('a'))!.complete();
    await queue.close();
    const next = await other.take('b', { blockMs: 2_000 });
    expect(next?.jobId).toBe(jobId);
    expect(next?.failures).toBe(0);
  });
});
