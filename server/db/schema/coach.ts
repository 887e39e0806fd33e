import {
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { CHAT_MESSAGE_STATUSES } from '../../../shared/coach.ts';
import { users } from './accounts.ts';
import { projects, workspaces } from './workspaces.ts';

/** What a creator tells the coach about themselves; one per user, used as chat context. */
export const creatorProfiles = pgTable('creator_profiles', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  platforms: jsonb('platforms').$type<string[]>().notNull(),
  audienceSize: integer('audience_size'),
  niche: text('niche'),
  goals: jsonb('goals').$type<string[]>().notNull(),
  budgetUsd: doublePrecision('budget_usd'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});

export const chatRole = pgEnum('chat_role', ['user', 'assistant']);
/** Built from the contract's enum; `pending` is a coach reply not finished yet. */
export const chatStatus = pgEnum('chat_status', CHAT_MESSAGE_STATUSES);

/**
 * The chat of a project: members' messages and the coach's replies. A reply carries its token
 * usage and USD cost, attributed to the member who asked (`user_id`), which is what the daily
 * limits and `GET /coach/usage` add up. `workspace_id` lets usage be summed per workspace
 * without a join through projects.
 */
export const chatMessages = pgTable(
  'chat_messages',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    role: chatRole('role').notNull(),
    content: text('content').notNull(),
    /** Author of a user message; the asker of a reply. No foreign key: history outlives accounts. */
    userId: uuid('user_id'),
    authorName: text('author_name'),
    status: chatStatus('status').notNull(),
    replyTo: uuid('reply_to'),
    provider: text('provider'),
    model: text('model'),
    offline: boolean('offline').notNull().default(false),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    costUsd: doublePrecision('cost_usd'),
    /** Error code when the reply failed (status incomplete). */
    errorCode: text('error_code'),
    /**
     * The reply job's delivery that is producing a pending reply: the fencing token of its
     * writes (server/coach/chat-store.ts). Null until the first delivery claims it.
     */
    attempt: integer('attempt'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('chat_messages_project_created_idx').on(table.projectId, table.createdAt, table.id),
    index('chat_messages_user_created_idx').on(table.userId, table.createdAt),
    index('chat_messages_created_idx').on(table.createdAt),
    index('chat_messages_workspace_created_idx').on(table.workspaceId, table.createdAt),
    // Finds the pending replies of a project and the oldest one of each (the reply sweep).
    index('chat_messages_status_project_created_idx').on(
      table.status,
      table.projectId,
      table.createdAt,
    ),
  ],
);

export const decisionStatus = pgEnum('decision_status', ['active', 'superseded']);

/**
 * Decisions the detector read from the chat, mirrored into the plan document's `decisions`.
 * A newer decision of the same category supersedes the older one, which is kept.
 */
export const coachDecisions = pgTable(
  'coach_decisions',
  {
    id: uuid('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    category: text('category').notNull(),
    statement: text('statement').notNull(),
    confidence: text('confidence').notNull(),
    rationale: text('rationale').notNull(),
    /** Null when the coach said it. */
    decidedBy: uuid('decided_by'),
    decidedByName: text('decided_by_name').notNull(),
    sourceMessageId: uuid('source_message_id').notNull(),
    status: decisionStatus('status').notNull(),
    supersededBy: uuid('superseded_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('coach_decisions_project_created_idx').on(table.projectId, table.createdAt),
    index('coach_decisions_project_category_idx').on(table.projectId, table.category, table.status),
  ],
);
