import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';

/**
 * What the outbox carries, by topic. Each topic has one handler (the dispatcher's `handlers`),
 * which must be idempotent: an entry runs at least once, twice after a crash at the wrong time.
 */
export interface OutboxTopics {
  /** Put a render on the queue (read from its row then); the job id makes a second add a no-op. */
  'render.enqueue': { renderId: string };
  /** Tell every node's realtime layer that a member's role changed or they were removed. */
  'membership.changed': { workspaceId: string; userId: string };
  /** Close a deleted project's documents and rooms on every node and remove its files. */
  'project.deleted': { projectId: string; workspaceId: string };
  /** Put a pipeline step's round on the pipeline queue (job id `<stepId>.<round>`: a second add is a no-op). */
  'pipeline.step': { stepId: string; runId: string; round: number };
}

export type OutboxTopic = keyof OutboxTopics;

export interface OutboxItem<T extends OutboxTopic = OutboxTopic> {
  topic: T;
  /** What the entry is about (a render id, a project id). */
  key: string;
  payload: OutboxTopics[T];
}

export type OutboxRow = typeof tables.outbox.$inferSelect;

/**
 * Writes an entry in the caller's transaction: it commits with the change it follows, or not
 * at all. Tell the node's dispatcher (`kick()`) after the commit so it runs at once; the
 * sweep of any node finds it otherwise.
 */
export async function addToOutbox<T extends OutboxTopic>(
  tx: Db | Tx,
  item: OutboxItem<T>,
  now: Date = new Date(),
): Promise<void> {
  await tx.insert(tables.outbox).values({
    id: randomUUID(),
    topic: item.topic,
    key: item.key,
    payload: item.payload,
    createdAt: now,
    availableAt: now,
  });
}

/** Whether an entry of `topic` about `key` is waiting (not yet carried out). */
export async function isPendingInOutbox(
  db: Db | Tx,
  topic: OutboxTopic,
  key: string,
): Promise<boolean> {
  const [row] = await db
    .select({ id: tables.outbox.id })
    .from(tables.outbox)
    .where(and(eq(tables.outbox.topic, topic), eq(tables.outbox.key, key)))
    .limit(1);
  return row !== undefined;
}

/**
 * Claims up to `limit` entries that are due, oldest first, skipping those another dispatcher
 * holds: each claimed entry's `available_at` moves `leaseMs` ahead (so a dispatcher that dies
 * holding it gives it back by itself) and its attempt count goes up. One statement, no
 * transaction left open while handlers run.
 */
export async function claimOutboxEntries(
  db: Db,
  options: { limit: number; leaseMs: number; now: Date },
): Promise<OutboxRow[]> {
  const due = db
    .select({ id: tables.outbox.id })
    .from(tables.outbox)
    .where(lte(tables.outbox.availableAt, options.now))
    .orderBy(asc(tables.outbox.createdAt), asc(tables.outbox.id))
    .limit(options.limit)
    .for('update', { skipLocked: true });
  const rows = await db
    .update(tables.outbox)
    .set({
      availableAt: new Date(options.now.getTime() + options.leaseMs),
      attempts: sql`${tables.outbox.attempts} + 1`,
    })
    .where(inArray(tables.outbox.id, due))
    .returning();
  return rows.sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id),
  );
}

/** Removes entries whose handler succeeded. */
export async function removeOutboxEntries(db: Db, ids: string[]): Promise<void> {
  if (ids.length > 0) await db.delete(tables.outbox).where(inArray(tables.outbox.id, ids));
}

/** Records a failed attempt; the entry comes back after `retryInMs`. */
export async function deferOutboxEntry(
  db: Db,
  id: string,
  error: string,
  retryAt: Date,
): Promise<void> {
  await db
    .update(tables.outbox)
    .set({ availableAt: retryAt, lastError: error.slice(0, 2000) })
    .where(eq(tables.outbox.id, id));
}

/** Age in seconds of the oldest waiting entry (0 when none): the outbox lag. */
export async function oldestOutboxAgeSeconds(db: Db, now: Date): Promise<number> {
  const [row] = await db
    .select({ createdAt: tables.outbox.createdAt })
    .from(tables.outbox)
    .orderBy(asc(tables.outbox.createdAt))
    .limit(1);
  return row ? Math.max(0, (now.getTime() - row.createdAt.getTime()) / 1000) : 0;
}
