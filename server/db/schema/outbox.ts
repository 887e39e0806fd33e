import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The transactional outbox: work that must follow a commit (enqueue a job, tell other nodes
 * of a membership change or a deleted project) is written here in the same transaction as
 * the change it follows, and a dispatcher on any node carries it out afterwards, at least
 * once. An entry is deleted once its handler succeeded; a crash in between runs it again,
 * so every handler is idempotent (server/outbox).
 *
 * No foreign keys: an entry outlives what it is about (a deleted project's cleanup).
 */
export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey(),
    /** What to do, e.g. `render.enqueue`; one handler per topic. */
    topic: text('topic').notNull(),
    /** What it is about (a render id, a project id); for lookups such as "is one pending?". */
    key: text('key').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    /**
     * Not handed to a dispatcher before this: set ahead while one holds it (a lease, so a
     * crashed holder's entries come back) and after a failure (the backoff).
     */
    availableAt: timestamp('available_at', { withTimezone: true }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (table) => [
    index('outbox_available_idx').on(table.availableAt),
    index('outbox_topic_key_idx').on(table.topic, table.key),
  ],
);
