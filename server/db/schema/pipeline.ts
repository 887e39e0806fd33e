import {
  doublePrecision,
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
import type {
  PipelineArtifact,
  PipelineError,
  PipelineStepName,
  PublishOptions,
} from '../../../shared/pipeline.ts';
import { users } from './accounts.ts';
import { projects, workspaces } from './workspaces.ts';

/** The wire contract's job statuses, built from the shared zod enum (never written twice). */
export const pipelineStatus = pgEnum('pipeline_status', JOB_STATUSES);

/** A pipeline run: the steps asked for, in order, and where the run stands. */
export const pipelineRuns = pgTable(
  'pipeline_runs',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    status: pipelineStatus('status').notNull().default('queued'),
    steps: jsonb('steps').$type<PipelineStepName[]>().notNull(),
    publish: jsonb('publish').$type<PublishOptions>(),
    error: jsonb('error').$type<PipelineError>(),
    /** A repeated POST with the same key returns the first run of the project. */
    idempotencyKey: text('idempotency_key'),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('pipeline_runs_project_idempotency_idx').on(table.projectId, table.idempotencyKey),
    index('pipeline_runs_project_created_idx').on(table.projectId, table.createdAt, table.id),
  ],
);

/**
 * One step of a run. `round` counts the times the step was (re)started by its run (a retry
 * adds one); `attempt` is the queue's delivery number within the round. Workers' writes are
 * fenced by both, like `render_jobs.attempt`.
 */
export const pipelineSteps = pgTable(
  'pipeline_steps',
  {
    id: uuid('id').primaryKey(),
    runId: uuid('run_id')
      .notNull()
      .references(() => pipelineRuns.id, { onDelete: 'cascade' }),
    name: text('name').$type<PipelineStepName>().notNull(),
    position: integer('position').notNull(),
    status: pipelineStatus('status').notNull().default('queued'),
    round: integer('round').notNull().default(1),
    attempt: integer('attempt').notNull().default(0),
    /** 0..1 */
    progress: real('progress').notNull().default(0),
    error: jsonb('error').$type<PipelineError>(),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    credits: integer('credits').notNull().default(0),
    artifacts: jsonb('artifacts').$type<PipelineArtifact[]>().notNull().default([]),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('pipeline_steps_run_position_idx').on(table.runId, table.position),
    index('pipeline_steps_status_idx').on(table.status),
  ],
);

/** Every provider call a step made: what it used and what it cost, and who started the run. */
export const pipelineCosts = pgTable(
  'pipeline_costs',
  {
    id: uuid('id').primaryKey(),
    runId: uuid('run_id')
      .notNull()
      .references(() => pipelineRuns.id, { onDelete: 'cascade' }),
    stepId: uuid('step_id').references(() => pipelineSteps.id, { onDelete: 'cascade' }),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    step: text('step').$type<PipelineStepName>().notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    units: doublePrecision('units').notNull(),
    /** `tokens`, `characters`, `seconds`, `images`. */
    unit: text('unit').notNull(),
    usd: doublePrecision('usd').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('pipeline_costs_project_idx').on(table.projectId, table.createdAt),
    index('pipeline_costs_workspace_idx').on(table.workspaceId, table.createdAt),
  ],
);
