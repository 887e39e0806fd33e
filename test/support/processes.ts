import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface NodeProcess {
  child: ChildProcess;
  /** The URL the process logged once it was listening. */
  url: string;
  /** Every line it wrote to stdout and stderr so far. */
  output: string[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Node's flags for an entry: TypeScript goes through tsx, a built `.mjs` bundle runs as it is. */
const loaderFor = (entry: string) => (entry.endsWith('.mjs') ? [] : ['--import', 'tsx']);

/**
 * Runs one of our entry files (`server/main.ts`, `server/api-main.ts`, ...) as a real process
 * with exactly the given environment, and waits until it logs the URL it listens on (an `info`
 * line): with PORT=0 the URL carries the port the process actually got. An `.mjs` entry (the
 * bundles `npm start` runs, see `builtEntry`) runs as plain JavaScript, without tsx.
 */
export async function spawnEntry(
  entry: string,
  env: Record<string, string>,
  options: {
    args?: string[];
    timeoutMs?: number;
    /**
     * Known URL (fixed PORT): wait for its /health instead of a log line, for quiet log levels.
     * Tests leave it out and pass PORT=0: the port is then the one the process got.
     */
    url?: string;
    /**
     * Write the process's stdout to this file instead of reading it here (needs `url`): for
     * benchmarks, where parsing every access-log line would load the load generator.
     */
    stdoutFile?: string;
  } = {},
): Promise<NodeProcess> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.stdoutFile && !options.url) throw new Error('stdoutFile needs a known url');
  const stdoutFd = options.stdoutFile ? openSync(options.stdoutFile, 'a') : undefined;
  const child = spawn(process.execPath, [...loaderFor(entry), entry, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
  });
  // The child holds its own copy of the descriptor.
  if (stdoutFd !== undefined) closeSync(stdoutFd);
  const output: string[] = [];
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${entry} did not start in ${timeoutMs} ms:\n${output.join('\n')}`)),
      timeoutMs,
    );
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        const match = /"url":"(http:\/\/[^"]+)"/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr!.on('data', onLine);
    if (options.url) {
      const known = options.url;
      const poll = async () => {
        while (child.exitCode === null) {
          const ok = await fetch(`${known}/health`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) {
            clearTimeout(timer);
            return resolve(known);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      void poll();
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
  return {
    child,
    url,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

/** Runs an entry to completion and returns its exit code and output. */
export async function runEntry(
  entry: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [...loaderFor(entry), entry], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, output };
}

/**
 * A TCP port that was free a moment ago, for a process that must be told its port and cannot
 * report one it picked (a benchmark's fixed URL, a throwaway redis-server or postgres). Another
 * process can take the port before the one told binds it (EADDRINUSE): our own servers under
 * test listen on port 0 instead and log the URL they got, which `spawnEntry` reads.
 */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
