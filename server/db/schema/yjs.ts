import {
  bigint,
  customType,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { projects } from './workspaces.ts';

/**
 * Binary column. PGlite hands back a Uint8Array, postgres-js a Buffer (a Uint8Array too); we
 * send a Buffer because postgres-js only recognises Buffers as bytea parameters.
 */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  fromDriver: (value) => new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
});

/**
 * The compacted state of a Yjs document: one row per document. `version` grows with every
 * compaction; a compaction only writes if the version is still the one it started from, so
 * two nodes compacting at once cannot overwrite each other's merge.
 */
export const yjsSnapshots = pgTable('yjs_snapshots', {
  docName: text('doc_name').primaryKey(),
  projectId: uuid('project_id')
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  state: bytea('state').notNull(),
  version: integer('version').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The append-only log of accepted Yjs updates since the snapshot. Rows are deleted only by a
 * compaction that merged them into the snapshot, in the same transaction.
 */
export const yjsUpdates = pgTable(
  'yjs_updates',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    docName: text('doc_name').notNull(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    update: bytea('update').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('yjs_updates_doc_idx').on(table.docName, table.id),
    index('yjs_updates_project_idx').on(table.projectId),
  ],
);
