// bench/render, part (c): the queue alone. No-op jobs through RedisJobQueue (add, take,
// complete) against BullMQ's no-op throughput and `redis-benchmark` XADD on the same Redis,
// plus claim-to-start latency (add -> a waiting worker holds the job).

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { createNodeRedisClient, Queue, RedisConnection, Worker } from 'bullmq';
import { createClient } from 'redis';
import { redisConnectionFactory } from '../../realtime/index.ts';
import { RedisJobQueue } from '../../render-farm/index.ts';

const run = promisify(execFile);

export interface QueueFigures {
  ours: { addPerSecond: number; processPerSecond: number; endToEndPerSecond: number };
  bullmq: { addPerSecond: number; processPerSecond: number; endToEndPerSecond: number };
  redisBenchmarkXaddPerSecond: number;
  claimToStartMs: { p50: number; p99: number; max: number };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function inParallel(total: number, parallel: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) await task(next++);
    }),
  );
}

async function ours(redisUrl: string, jobs: number, concurrency: number) {
  const prefix = `bench-${randomUUID()}`;
  const producer = new RedisJobQueue<{ n: number }>({
    redis: redisConnectionFactory({ url: redisUrl }),
    prefix,
  });
  // As the render workers run it: a completion brings the next job (BullMQ's fetchNext).
  const consumer = new RedisJobQueue<{ n: number }>({
    redis: redisConnectionFactory({ url: redisUrl }),
    prefix,
    prefetch: true,
  });
  try {
    await producer.add({ n: -1 }).then(async () => (await consumer.take('warm'))?.complete());
    let started = performance.now();
    await inParallel(jobs, concurrency, (n) => producer.add({ n }));
    const addSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, c) => {
        while (done < jobs) {
          const lease = await consumer.take(`c${c}`, { blockMs: 200 });
          if (!lease) continue;
          await lease.complete();
          done += 1;
        }
      }),
    );
    const processSeconds = (performance.now() - started) / 1000;
    return {
      addPerSecond: jobs / addSeconds,
      processPerSecond: jobs / processSeconds,
      endToEndPerSecond: jobs / (addSeconds + processSeconds),
    };
  } finally {
    await producer.destroy();
    await producer.close();
    await consumer.close();
  }
}

async function bullmq(redisUrl: string, jobs: number, concurrency: number) {
  // BullMQ on the same client library as ours (node-redis), as its docs show; ioredis is not
  // a dependency of this project.
  RedisConnection.clientFactory = () => createNodeRedisClient(createClient({ url: redisUrl }));
  const url = new URL(redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const name = `bench-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  let done = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  try {
    let started = performance.now();
    await inParallel(jobs, concurrency, (n) =>
      queue.add('noop', { n }, { removeOnComplete: true }),
    );
    const addSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const worker = new Worker(
      name,
      async () => {
        done += 1;
        if (done === jobs) resolveAll();
      },
      { connection, concurrency },
    );
    await all;
    const processSeconds = (performance.now() - started) / 1000;
    await worker.close();
    return {
      addPerSecond: jobs / addSeconds,
      processPerSecond: jobs / processSeconds,
      endToEndPerSecond: jobs / (addSeconds + processSeconds),
    };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function redisBenchmarkXadd(redisUrl: string, requests: number): Promise<number> {
  const url = new URL(redisUrl);
  const stream = `bench-xadd-${randomUUID()}`;
  const { stdout } = await run('redis-benchmark', [
    ...['-h', url.hostname, '-p', url.port || '6379', '-n', String(requests), '-c', '50', '-q'],
    ...['XADD', stream, '*', 'job', 'x'],
  ]);
  await run('redis-cli', ['-h', url.hostname, '-p', url.port || '6379', 'DEL', stream]);
  const match = /([\d.]+) requests per second/.exec(stdout);
  return match ? Number(match[1]) : Number.NaN;
}

/** Idle workers waiting; jobs added one at a time, a little apart: add -> take latency. */
async function claimToStart(redisUrl: string, samples: number, workers: number) {
  const prefix = `bench-${randomUUID()}`;
  const producer = new RedisJobQueue<{ at: number }>({
    redis: redisConnectionFactory({ url: redisUrl }),
    prefix,
  });
  const consumer = new RedisJobQueue<{ at: number }>({
    redis: redisConnectionFactory({ url: redisUrl }),
    prefix,
  });
  const latencies: number[] = [];
  let stop = false;
  try {
    const loops = Array.from({ length: workers }, async (_, c) => {
      while (!stop) {
        const lease = await consumer.take(`w${c}`, { blockMs: 100 });
        if (!lease) continue;
        latencies.push(performance.timeOrigin + performance.now() - lease.data.at);
        await lease.complete();
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < samples; i += 1) {
      await producer.add({ at: performance.timeOrigin + performance.now() });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    while (latencies.length < samples) await new Promise((resolve) => setTimeout(resolve, 20));
    stop = true;
    await Promise.all(loops);
  } finally {
    await producer.destroy();
    await producer.close();
    await consumer.close();
  }
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
  };
}

export async function benchQueue(
  redisUrl: string,
  options: { jobs: number; concurrency: number },
): Promise<QueueFigures> {
  return {
    redisBenchmarkXaddPerSecond: await redisBenchmarkXadd(redisUrl, options.jobs * 10),
    ours: await ours(redisUrl, options.jobs, options.concurrency),
    bullmq: await bullmq(redisUrl, options.jobs, options.concurrency),
    claimToStartMs: await claimToStart(redisUrl, 1000, 4),
  };
}
