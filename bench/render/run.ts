// bench/render: the render farm in distributed mode (an API node and `npm run start:worker`
// processes on Postgres and Redis), all figures measured in this run:
//   (a) overhead: one 30 s 720p render through REST, queue and worker against the equivalent
//       bare `ffmpeg` command (target ratio <= 1.05);
//   (b) throughput with one and with two worker processes;
//   (c) the queue alone: no-op jobs/s through RedisJobQueue against BullMQ and redis-benchmark
//       XADD on the same Redis, and claim-to-start latency.
//
//   npm run bench:render [-- --part all|overhead|throughput|queue --jobs 6 --repeat 3]
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import postgres from 'postgres';
import { io, type Socket } from 'socket.io-client';
import { defaultFontFile, resolveFfmpegBinaries } from '../../render-farm/index.ts';
// Internal to the render farm, imported here only to give bare FFmpeg the very same graph.
import { buildRenderPlan, FONT_FILE_NAME } from '../../render-farm/render-plan.ts';
import { renderSpecSchema } from '../../shared/render-spec.ts';
import { freePort, REPO_ROOT, spawnEntry } from '../../test/support/processes.ts';
import { TEST_POSTGRES_URL, TEST_REDIS_URL } from '../../test/support/services.ts';
import { progressBar } from '../support/progress-bar.ts';
import { benchQueue } from './queue.ts';

const { values } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    jobs: { type: 'string', default: '6' },
    repeat: { type: 'string', default: '3' },
    'queue-jobs': { type: 'string', default: '5000' },
  },
});
const part = values.part;
const run = promisify(execFile);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  if (part === 'all' || part === 'queue') {
    const figures = await benchQueue(TEST_REDIS_URL, {
      jobs: Number(values['queue-jobs']),
      concurrency: 20,
    });
    console.log('\n(c) queue alone, no-op jobs (20 concurrent producers / consumers)');
    console.log(
      `  redis-benchmark XADD          ${figures.redisBenchmarkXaddPerSecond.toFixed(0)} cmd/s`,
    );
    for (const [name, f] of [
      ['RedisJobQueue', figures.ours],
      ['BullMQ', figures.bullmq],
    ] as const) {
      console.log(
        `  ${name.padEnd(14)} add ${f.addPerSecond.toFixed(0)}/s  process ${f.processPerSecond.toFixed(0)}/s  end-to-end ${f.endToEndPerSecond.toFixed(0)}/s`,
      );
    }
    console.log(
      `  ratio to BullMQ: process ${(figures.ours.processPerSecond / figures.bullmq.processPerSecond).toFixed(2)}, end-to-end ${(figures.ours.endToEndPerSecond / figures.bullmq.endToEndPerSecond).toFixed(2)}`,
    );
    const c = figures.claimToStartMs;
    console.log(
      `  claim-to-start (add -> idle worker holds it): p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms, max ${c.max.toFixed(2)} ms`,
    );
  }
  if (part === 'queue') return;

  const cluster = await startCluster();
  try {
    if (part === 'all' || part === 'overhead') await overhead(cluster, Number(values.repeat));
    if (part === 'all' || part === 'throughput') await throughput(cluster, Number(values.jobs));
  } finally {
    await cluster.close();
  }
}

interface Cluster {
  url: string;
  token: string;
  projectId: string;
  /** Resolves with the render's final status, from the room's `render:progress` events. */
  finalStatus(renderId: string): Promise<string>;
  env: Record<string, string>;
  dir: string;
  startWorkers(count: number): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'reelroom-bench-render-'));
  const name = `reelroom_bench_${randomUUID().replaceAll('-', '')}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const dbUrl = new URL(TEST_POSTGRES_URL);
  dbUrl.pathname = `/${name}`;
  // Renders are free here: the bench measures rendering, not the wallet.
  writeFileSync(
    path.join(dir, 'billing.json'),
    JSON.stringify({ prices: { render: { credits: 0 } } }),
  );
  const port = await freePort();
  const env: Record<string, string> = {
    DATA_DIR: dir,
    STORAGE_DIR: path.join(dir, 'storage'),
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `bench-${randomUUID()}`,
    JWT_SECRET: randomUUID() + randomUUID(),
    BILLING_CONFIG: path.join(dir, 'billing.json'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  const api = await spawnEntry('server/api-main.ts', env, { url: `http://127.0.0.1:${port}` });
  const post = (pathname: string, body: unknown, token?: string) =>
    fetch(`${api.url}${pathname}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const session = (await (
    await post('/api/v1/auth/signup', {
      email: `${randomUUID()}@bench.test`,
      password: 'correct horse battery',
      name: 'Bench',
    })
  ).json()) as { accessToken: string };
  const token = session.accessToken;
  const { workspaces } = (await (
    await fetch(`${api.url}/api/v1/workspaces`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as { workspaces: Array<{ id: string }> };
  const { project } = (await (
    await post(
      '/api/v1/projects',
      { workspaceId: workspaces[0]!.id, title: 'Bench', topic: 'renders' },
      token,
    )
  ).json()) as { project: { id: string } };

  // Events can arrive before the POST's answer: keep every final status, resolve waiters.
  const finals = new Map<string, string>();
  const waiters = new Map<string, (status: string) => void>();
  const socket: Socket = io(api.url, { auth: { token }, transports: ['websocket'] });
  socket.on('render:progress', (event: { renderId: string; status: string }) => {
    if (!['completed', 'failed', 'cancelled'].includes(event.status)) return;
    finals.set(event.renderId, event.status);
    waiters.get(event.renderId)?.(event.status);
  });
  await socket.timeout(10_000).emitWithAck('project:join', { projectId: project.id });

  return {
    url: api.url,
    token,
    projectId: project.id,
    finalStatus: (renderId) =>
      new Promise((resolve) => {
        const known = finals.get(renderId);
        if (known) resolve(known);
        else waiters.set(renderId, resolve);
      }),
    env,
    dir,
    async startWorkers(count) {
      const children = await Promise.all(
        Array.from({ length: count }, () =>
          startWorker({ ...env, LOG_LEVEL: 'info', RENDER_CONCURRENCY: '1' }),
        ),
      );
      return async () => {
        await Promise.all(
          children.map(async (child) => {
            if (child.exitCode !== null) return;
            child.kill('SIGTERM');
            await once(child, 'exit');
          }),
        );
      };
    },
    async close() {
      socket.close();
      await api.stop();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `npm run start:worker` as a process; resolves once it logs that it started. */
async function startWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/worker-main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('render worker started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  child.stdout!.resume();
  return child;
}

function spec(width: number, height: number, seconds: number) {
  return {
    width,
    height,
    fps: 25,
    scenes: [
      {
        text: 'Reelroom benchmark',
        durationSec: seconds,
        background: { type: 'color', color: '#224466' },
      },
    ],
  };
}

/**
 * Submits through REST and resolves when the room announces the render's final state, as a
 * watching team sees it (`render:progress` over Socket.IO; no polling load on the API node).
 */
async function renderThroughRest(cluster: Cluster, body: unknown): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${cluster.url}/api/v1/projects/${cluster.projectId}/renders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cluster.token}` },
    body: JSON.stringify({ spec: body }),
  });
  if (response.status !== 202)
    throw new Error(`submit: ${response.status} ${await response.text()}`);
  const { render } = (await response.json()) as { render: { id: string } };
  const status = await cluster.finalStatus(render.id);
  if (status !== 'completed') throw new Error(`render ${render.id} ended ${status}`);
  return (performance.now() - started) / 1000;
}

/**
 * The same render as one plain FFmpeg command and the thumbnail command, without Reelroom: the
 * filtergraph a worker builds for the spec (same text file and font), the same encoder flags.
 */
async function bareFfmpeg(dir: string, seconds: number): Promise<number> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const work = mkdtempSync(path.join(dir, 'bare-'));
  const plan = buildRenderPlan({
    spec: renderSpecSchema.parse(spec(1280, 720, seconds)),
    scenes: [{ durationSec: seconds, text: 'Reelroom benchmark' }],
  });
  copyFileSync(defaultFontFile(), path.join(work, FONT_FILE_NAME));
  for (const file of plan.files) writeFileSync(path.join(work, file.name), file.content);
  const out = path.join(work, 'out.mp4');
  const started = performance.now();
  await run(
    ffmpegPath,
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-filter_complex', plan.filter],
      ...['-map', `[${plan.videoLabel}]`, '-map', `[${plan.audioLabel}]`],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p'],
      ...['-r', '25', '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2'],
      ...['-movflags', '+faststart', '-f', 'mp4', out],
    ],
    { cwd: work },
  );
  await run(ffmpegPath, [
    ...['-nostdin', '-loglevel', 'error', '-y', '-ss', '1', '-i', out],
    ...['-frames:v', '1', '-c:v', 'png', '-f', 'image2', `${out}.png`],
  ]);
  const elapsed = (performance.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  return elapsed;
}

async function overhead(cluster: Cluster, repeat: number) {
  const stop = await cluster.startWorkers(1);
  try {
    await renderThroughRest(cluster, spec(320, 180, 2)); // warm-up: worker connections, font copy
    const rest: number[] = [];
    const bare: number[] = [];
    const bar = progressBar(repeat * 2, '(a) overhead');
    for (let i = 0; i < repeat; i += 1) {
      bare.push(await bareFfmpeg(cluster.dir, 30));
      bar.tick();
      rest.push(await renderThroughRest(cluster, spec(1280, 720, 30)));
      bar.tick();
    }
    bar.done();
    console.log('\n(a) overhead: one 30 s 1280x720 render, median of', repeat);
    console.log(
      `  bare ffmpeg (video + thumbnail)       ${median(bare).toFixed(2)} s   [${bare.map((x) => x.toFixed(2)).join(', ')}]`,
    );
    console.log(
      `  REST -> queue -> worker -> completed  ${median(rest).toFixed(2)} s   [${rest.map((x) => x.toFixed(2)).join(', ')}]`,
    );
    console.log(`  ratio ${(median(rest) / median(bare)).toFixed(3)} (target <= 1.05)`);
  } finally {
    await stop();
  }
}

async function throughput(cluster: Cluster, jobs: number) {
  console.log(`\n(b) throughput: ${jobs} renders of 20 s at 640x360, submitted at once`);
  for (const workers of [1, 2]) {
    const stop = await cluster.startWorkers(workers);
    try {
      const started = performance.now();
      const bar = progressBar(jobs, `(b) ${workers} worker${workers > 1 ? 's' : ''}`);
      await Promise.all(
        Array.from({ length: jobs }, () =>
          renderThroughRest(cluster, spec(640, 360, 20)).finally(bar.tick),
        ),
      );
      bar.done();
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `  ${workers} worker process${workers > 1 ? 'es' : ''}: ${seconds.toFixed(2)} s, ${((jobs / seconds) * 60).toFixed(1)} renders/min, ${((jobs * 20) / seconds).toFixed(1)} s of video per second`,
      );
    } finally {
      await stop();
    }
  }
}

await main();
process.exit(0);
