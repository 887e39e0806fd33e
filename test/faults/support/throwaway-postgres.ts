import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/processes.ts';

const run = promisify(execFile);

/**
 * A Postgres cluster of the test's own (initdb in a temporary directory, trust auth), so that
 * a test may stop it hard and start it again. Never the shared server on 5432. Needs the
 * server binaries (`/usr/lib/postgresql/<version>/bin`) and, when run as root, a `postgres`
 * account to run them as (initdb refuses root).
 */
export interface ThrowawayPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** `pg_ctl stop -m immediate`: no checkpoint, connections cut, as in a crash. */
  stopImmediately(): Promise<void>;
  /** Starts it again on the same port and data directory (crash recovery runs). */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

async function binDir(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('no Postgres server binaries under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/** Runs a server binary, as `postgres` when we are root. */
async function asPostgres(command: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const quoted = [command, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  try {
    if (asRoot) await run('su', ['postgres', '-c', quoted], { timeout: 60_000 });
    else await run(command, args, { timeout: 60_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr ?? ''}${stdout ?? ''}`);
  }
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = await binDir();
  const dir = await mkdtemp(join(tmpdir(), 'reelroom-faults-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const data = join(dir, 'data');
  await asPostgres(`${bin}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  let port = 0;
  const start = () =>
    asPostgres(`${bin}/pg_ctl`, [
      '-D',
      data,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-l',
      join(dir, 'server.log'),
      'start',
    ]);
  // A port free a moment ago; if taken meanwhile the start fails and the next is tried.
  for (let attempt = 0; ; attempt += 1) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
  const stop = (mode: 'immediate' | 'fast') =>
    asPostgres(`${bin}/pg_ctl`, ['-D', data, '-w', '-m', mode, 'stop']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stopImmediately: () => stop('immediate'),
    start,
    async destroy() {
      await stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
