import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { type Database, openDatabase } from '../../server/db/index.ts';
import { TEST_POSTGRES_URL } from './services.ts';

export interface DatabaseBackend {
  name: 'pglite' | 'pglite-thread' | 'postgres';
  /** A fresh, migrated database of its own; closing it also drops it (Postgres). */
  open(): Promise<Database>;
}

/** A database of its own on the test Postgres server, dropped when closed; migrated unless told. */
export async function openTestPostgres(
  options: { migrate?: boolean } = {},
): Promise<Database & { url: string }> {
  const name = `reelroom_test_${randomUUID().replaceAll('-', '')}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), maxConnections: 20 });
  if (options.migrate !== false) await database.migrate();
  let closing: Promise<void> | undefined;
  return {
    ...database,
    url: url.toString(),
    close: () => {
      closing ??= (async () => {
        await database.close();
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
      })();
      return closing;
    },
  };
}

/** Fresh in-memory PGlite, migrated. */
export async function openTestPglite(): Promise<Database> {
  const database = await openDatabase();
  await database.migrate();
  return database;
}

/** Fresh in-memory PGlite in a worker thread of its own, as the embedded service runs it. */
export async function openTestPgliteThread(): Promise<Database> {
  const database = await openDatabase({ thread: true });
  await database.migrate();
  return database;
}

/**
 * The databases Reelroom supports, PGlite both in the caller's thread and in its own (the
 * embedded service's); data-layer suites run `describe.each(databaseBackends)`.
 */
export const databaseBackends: DatabaseBackend[] = [
  { name: 'pglite', open: openTestPglite },
  { name: 'pglite-thread', open: openTestPgliteThread },
  { name: 'postgres', open: openTestPostgres },
];
