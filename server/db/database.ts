import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import {
  type DatabaseThreadMemory,
  type PgliteThread,
  startPgliteThread,
} from './pglite-thread.ts';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;

/** A drizzle database over the full schema: the same queries run on PGlite and on Postgres. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** A transaction handle, usable wherever a `Db` is. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Applies the versioned migrations that have not run yet. Safe to call on every start. */
  migrate(): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * Calls `onPayload` for each NOTIFY on `channel`, once the notifying transaction committed
   * (on Postgres from any process, on its own dedicated connection). Resolves when listening;
   * the returned function stops. Best effort: what is sent while the connection is down is lost.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * PGlite in its own thread only: the memory that thread holds (for `/metrics`), which the
   * Node heap figures of the process do not show.
   */
  threadMemory?(): Promise<DatabaseThreadMemory>;
  /** Closes the connection(s); safe to call twice. */
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** A postgres:// URL. Absent: embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory. Absent: an in-memory PGlite (tests). */
  dataDir?: string | undefined;
  /**
   * PGlite only: make every commit reach the disk before it resolves (Postgres's `fsync` on,
   * its WAL flushed with one fdatasync per commit). Default true. PGlite as shipped starts
   * Postgres with `fsync=off` (`-F`) and its Node file system ignores fsync, so a commit only
   * reaches the OS page cache: it survives a process crash but not an OS crash or power loss.
   * Measured here: one fdatasync per transaction (1000 inserts: 1000 calls, 44 µs each under
   * strace on this VM's disk); the realtime group commit shares one among many edits. False:
   * PGlite's own behaviour, for throwaway data.
   */
  durable?: boolean;
  /**
   * PGlite only: run it in a worker thread of its own (`pglite-thread.ts`), so the wasm
   * Postgres and its commits' fdatasync never take the time of the thread that relays edits
   * and answers requests. Always, with a data directory (the embedded service); an in-memory
   * database (tests) stays in the caller's thread unless told.
   */
  thread?: boolean;
  /** Postgres pool size. Default 10: enough for an API node without starving the server. */
  maxConnections?: number;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/** Opens the database the options describe. Does not migrate; call `migrate()` for that. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  return options.url
    ? openPostgres(options.url, options.maxConnections ?? 10)
    : openPglite(
        options.dataDir,
        options.durable ?? true,
        options.dataDir !== undefined || (options.thread ?? false),
      );
}

/**
 * Creates a new PGlite database (initdb) in a short-lived child process. Done in this process,
 * initdb leaves wasm memories of several hundred MB resident for the life of the process, even
 * after that instance is closed: measured, a fresh embedded database held 745 MB, one opened
 * after being created apart 257 MB.
 */
async function createPgliteApart(dataDir: string): Promise<void> {
  const script = `import { PGlite } from '@electric-sql/pglite';
const db = await PGlite.create({ dataDir: process.argv[1] });
await db.close();`;
  await execFileAsync(process.execPath, ['--input-type=module', '-e', script, dataDir], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
}

async function openPglite(
  dataDir: string | undefined,
  durable: boolean,
  thread: boolean,
): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  if (dataDir !== undefined && readdirSync(dataDir).length === 0) await createPgliteApart(dataDir);
  const inThread = thread ? await startPgliteThread({ dataDir, durable }) : undefined;
  const client: PgliteClient = inThread ?? (await PGlite.create());
  // drizzle's PGlite driver calls `query` and `transaction` on its client: the thread has both.
  const db = drizzlePglite({ client: client as PGlite, schema });
  let closing: Promise<void> | undefined;
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    migrate: () => migratePglite(db, { migrationsFolder }),
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    listen: (channel, onPayload) => client.listen(channel, onPayload),
    ...(inThread && { threadMemory: () => inThread.memory() }),
    close: () => {
      closing ??= client.closed ? Promise.resolve() : client.close();
      return closing;
    },
  };
}

/** What `openPglite` uses of a PGlite, in this thread or in its own. */
type PgliteClient = Pick<PgliteThread, 'listen' | 'closed' | 'close'>;

/**
 * postgres.js's sockets, with Nagle's algorithm off: it never calls `setNoDelay`, so a query
 * written in two segments could wait for the server's delayed ACK (about 40 ms on Linux).
 * Returned still connecting: postgres.js writes its startup message at once (Node buffers it
 * until the connection is up) and reads errors and the close from the socket, as for its own.
 */
function noDelaySocket(options: { host: string[]; port: number[]; path?: string | false }): Socket {
  if (options.path) return connectTcp({ path: options.path });
  return connectTcp({ host: options.host[0]!, port: options.port[0]!, noDelay: true });
}

const execFileAsync = promisify(execFile);

/** Advisory lock key that serialises migrations across processes (any fixed bigint). */
const MIGRATION_LOCK_KEY = 7_263_310_455;

async function openPostgres(url: string, max: number): Promise<Database> {
  const client = postgres(url, {
    // Migrating holds one connection for the advisory lock while drizzle works on another.
    max: Math.max(2, max),
    // Not in postgres.js's types; its README documents `socket` (a custom socket factory).
    ...({ socket: noDelaySocket } as object),
    onnotice: () => {},
    // Timestamps come back as Date objects through drizzle's own mapping.
    connect_timeout: 10,
    // Seconds before reconnecting after a failed attempt. postgres.js's default grows as
    // 3^n/100 up to 20 s, and every query waits for the next attempt: during an outage a
    // request took up to 20 s to get its 503, and the node as long to see Postgres back.
    // Capped at 1 s (with jitter, like our Redis connections): both within a second.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
  });
  const db = drizzlePostgres({ client, schema });
  let closing: Promise<void> | undefined;
  return {
    db: db as unknown as Db,
    kind: 'postgres',
    migrate: async () => {
      // Several API nodes and workers may start at once: one migrates, the others wait for the
      // lock and then find nothing left to apply.
      const lockHolder = await client.reserve();
      try {
        await lockHolder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        await migratePostgres(db, { migrationsFolder });
      } finally {
        await lockHolder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
        lockHolder.release();
      }
    },
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    listen: async (channel, onPayload) => {
      const listening = await client.listen(channel, onPayload);
      return () => listening.unlisten();
    },
    close: () => {
      closing ??= client.end({ timeout: 5 });
      return closing;
    },
  };
}
