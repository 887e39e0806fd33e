import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createClient } from 'redis';
import { freePort } from '../../support/processes.ts';

/**
 * A redis-server of the test's own (no persistence), so that a test may kill it and start it
 * again empty, as a crashed Redis without a disk comes back. Never the shared Redis on 6379.
 */
export interface ThrowawayRedis {
  url: string;
  port: number;
  /** SIGKILL, like a dead machine; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again, empty, on the same port. */
  start(): Promise<void>;
  /** Stops it for good (SIGKILL: nothing to keep). */
  close(): Promise<void>;
}

async function serve(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`);
    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on('error', () => {});
    const up = await client.connect().then(
      async () => (await client.ping()) === 'PONG',
      () => false,
    );
    if (client.isOpen) client.destroy();
    if (up) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on ${port}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts one on a port that was free a moment ago; if another process took it meanwhile,
 * redis-server exits and the next port is tried.
 */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; !child; attempt += 1) {
    port = await freePort();
    try {
      child = await serve(port);
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
  const kill = async () => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill('SIGKILL');
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    async start() {
      await kill();
      child = await serve(port);
    },
    close: kill,
  };
}
