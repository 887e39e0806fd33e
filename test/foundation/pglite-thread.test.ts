import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, tables } from '../../server/db/index.ts';

/** Longest gap between ticks of a 5 ms timer while `work` runs, and how long it ran. */
async function eventLoopGapDuring(
  work: () => Promise<unknown>,
): Promise<{ gap: number; ran: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { gap: Math.max(gap, performance.now() - last), ran: performance.now() - started };
}

function user(email: string, name: string) {
  return { id: randomUUID(), email, name, passwordHash: 'x' };
}

const HEAVY_QUERY = sql`select count(*) from generate_series(1, 2500000) as n where n % 7 = 3`;

describe('the embedded database in a thread of its own', () => {
  let dataDir: string;
  let database: Database;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'reelroom-pglite-thread-'));
    database = await openDatabase({ dataDir });
    await database.migrate();
  });

  afterAll(async () => {
    await database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps this thread free while a query runs: timers fire throughout', async () => {
    const { gap, ran } = await eventLoopGapDuring(() => database.db.execute(HEAVY_QUERY));
    console.log(
      `[pglite-thread] query ran ${ran.toFixed(0)} ms; longest event-loop gap ${gap.toFixed(1)} ms`,
    );
    expect(ran).toBeGreaterThan(150);
    expect(gap).toBeLessThan(ran / 3);

    // The same query on a PGlite in this thread holds the loop for all of it: the check bites.
    const inThread = await openDatabase();
    try {
      const blocked = await eventLoopGapDuring(() => inThread.db.execute(HEAVY_QUERY));
      expect(blocked.gap).toBeGreaterThan(blocked.ran / 2);
    } finally {
      await inThread.close();
    }
  });

  it('returns what it stores: bytes, dates and JSON as a PGlite in this thread does', async () => {
    const [ada] = await database.db
      .insert(tables.users)
      .values(user('ada@example.test', 'Ada'))
      .returning();
    expect(ada!.createdAt).toBeInstanceOf(Date);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
    const { rows } = (await database.db.execute(
      sql`select ${Buffer.from(bytes)}::bytea as b, ${JSON.stringify({ a: [1, 2] })}::jsonb as j`,
    )) as unknown as { rows: Array<{ b: Uint8Array; j: unknown }> };
    expect(Buffer.from(rows[0]!.b).equals(Buffer.from(bytes))).toBe(true);
    expect(rows[0]!.j).toEqual({ a: [1, 2] });
  });

  it('commits a transaction, rolls one back, and passes Postgres errors on with their code', async () => {
    await database.db.transaction(async (tx) => {
      await tx.insert(tables.users).values(user('bea@example.test', 'Bea'));
    });
    await expect(
      database.db.transaction(async (tx) => {
        await tx.insert(tables.users).values(user('cy@example.test', 'Cy'));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const duplicate = await database.db
      .insert(tables.users)
      .values(user('bea@example.test', 'Bea again'))
      .catch((error: unknown) => error as { cause?: { code?: string; constraint?: string } });
    expect(duplicate).toMatchObject({ cause: { code: '23505' } });
    const names = await database.db
      .select({ name: tables.users.name })
      .from(tables.users)
      .where(eq(tables.users.email, 'cy@example.test'));
    expect(names).toEqual([]);
  });

  it('runs a query from outside an open transaction after it, never inside it', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = database.db.transaction(async (tx) => {
      await tx.insert(tables.users).values(user('dee@example.test', 'Dee'));
      order.push('inserted');
      await held;
      order.push('committing');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const outside = database.db
      .select({ id: tables.users.id })
      .from(tables.users)
      .where(eq(tables.users.email, 'dee@example.test'))
      .then((rows) => {
        order.push(`outside saw ${rows.length}`);
      });
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await Promise.all([transaction, outside]);
    expect(order).toEqual(['inserted', 'committing', 'outside saw 1']);
  });

  it('delivers NOTIFY to a listener once the transaction commits', async () => {
    const payloads: string[] = [];
    const stop = await database.listen('reelroom_thread_test', (payload) => payloads.push(payload));
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_notify('reelroom_thread_test', 'one')`);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(payloads).toEqual([]);
    });
    await expect.poll(() => payloads, { timeout: 2000 }).toEqual(['one']);
    await stop();
    await database.db.execute(sql`select pg_notify('reelroom_thread_test', 'two')`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(payloads).toEqual(['one']);
  });

  it('keeps what it committed when opened again from the same directory', async () => {
    await database.close();
    await database.close();
    await expect(database.db.execute(sql`select 1`)).rejects.toThrow();
    database = await openDatabase({ dataDir });
    const emails = await database.db.select({ email: tables.users.email }).from(tables.users);
    expect(emails.map((row) => row.email).sort()).toEqual([
      'ada@example.test',
      'bea@example.test',
      'dee@example.test',
    ]);
  });

  it('fails to open, rather than hanging, when the thread cannot open the directory', async () => {
    const broken = mkdtempSync(path.join(tmpdir(), 'reelroom-pglite-broken-'));
    try {
      // Not empty, so no new database is made there; not a database either.
      writeFileSync(path.join(broken, 'PG_VERSION'), 'not a version\n');
      await expect(openDatabase({ dataDir: broken })).rejects.toThrow();
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });
});
