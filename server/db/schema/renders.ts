import {
  bigint,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { JOB_STATUSES } from '../../../shared/job-status.ts';
import type { RenderSpec } from '../../../shared/render-spec.ts';
import { users } from './accounts.ts';
import { projects, workspaces } from './workspaces.ts';

/** Built from the wire contract's job statuses (shared/job-status.ts), never written twice. */
export const renderStatus = pgEnum('render_status', JOB_STATUSES);

/**
 * Render jobs: the source of truth for a render's status. `attempt` is the queue's delivery
 * number of the last attempt that wrote; writes are fenced by it (server/renders).
 */
export const renderJobs = pgTable(
  'render_jobs',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    status: renderStatus('status').notNull().default('queued'),
    attempt: integer('attempt').notNull().default(0),
    /** 0..1 */
    progress: real('progress').notNull().default(0),
    spec: jsonb('spec').$type<RenderSpec>().notNull(),
    /** A repeated POST with the same key returns the first render of the project. */
    idempotencyKey: text('idempotency_key'),
    /** Storage keys of the outputs, relative to STORAGE_DIR. */
    videoKey: text('video_key'),
    thumbnailKey: text('thumbnail_key'),
    durationSec: real('duration_sec'),
    bytes: bigint('bytes', { mode: 'number' }),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('render_jobs_project_idempotency_idx').on(table.projectId, table.idempotencyKey),
    index('render_jobs_project_created_idx').on(table.projectId, table.createdAt, table.id),
  ],
);

/** Uploads are images and audio; pipeline steps also make WebVTT subtitles and script text. */
export const assetKind = pgEnum('asset_kind', ['image', 'audio', 'subtitles', 'script']);

/** Uploaded images and audio of a project; the type is decided from the content. */
export const assets = pgTable(
  'assets',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    kind: assetKind('kind').notNull(),
    mime: text('mime').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    /** Storage key, relative to STORAGE_DIR. */
    path: text('path').notNull(),
    durationSec: real('duration_sec'),
    width: integer('width'),
    height: integer('height'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** What made it: null for an upload, else the pipeline step (`voiceover`, `thumbnail`, ...). */
    source: text('source'),
    /** A pipeline voice-over's cache key (narration, engine, voice, settings): reused, never made twice. */
    cacheKey: text('cache_key'),
    /** What a step knows of its file (a voice-over's sentence timings). */
    meta: jsonb('meta').$type<Record<string, unknown>>(),
  },
  (table) => [
    index('assets_project_created_idx').on(table.projectId, table.createdAt, table.id),
    index('assets_project_cache_key_idx').on(table.projectId, table.cacheKey),
  ],
);
