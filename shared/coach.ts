import { z } from 'zod';
import { text } from './text.ts';

/** The five kinds of decision the detector knows (SPEC, Coach flow). */
export const DECISION_CATEGORIES = [
  'pricing',
  'platform',
  'structure',
  'timeline',
  'content',
] as const;
export const decisionCategorySchema = z.enum(DECISION_CATEGORIES);
export type DecisionCategory = z.infer<typeof decisionCategorySchema>;

export const confidenceSchema = z.enum(['high', 'medium', 'low']);
export type Confidence = z.infer<typeof confidenceSchema>;

/** Error codes the coach answers with, over REST and in Socket.IO acks and `chat:error`. */
export const CoachErrorCodes = {
  /** The member sent their daily number of messages; `details.resetAt` says when it resets. */
  DailyLimitReached: 'daily_limit_reached',
  /** The service-wide daily AI spend reached its hard cap; replies resume the next UTC day. */
  SpendCapReached: 'spend_cap_reached',
  /** The provider failed (mid-stream or before); a partial reply is kept, marked incomplete. */
  ProviderFailed: 'provider_failed',
  /** The provider kept answering with a rate limit, also on the fallback model. */
  ProviderRateLimited: 'provider_rate_limited',
  /** No plan template with that id. */
  UnknownTemplate: 'unknown_template',
  /**
   * In `chat:error`, not final: the node streaming this reply stopped (a crash, a shutdown) and
   * the reply starts over under the same `messageId`. Discard its tokens so far; what streams
   * next, up to `chat:done` or another `chat:error`, is the reply that is stored.
   */
  ReplyRestarted: 'reply_restarted',
  /** The reply could not be produced (its attempts ran out, or the asker lost access). */
  ReplyFailed: 'reply_failed',
} as const;
export type CoachErrorCode = (typeof CoachErrorCodes)[keyof typeof CoachErrorCodes];

// ---------------------------------------------------------------- creator profile

export const creatorProfileBodySchema = z
  .strictObject({
    platforms: z.array(text().trim().min(1).max(60)).max(20).default([]),
    audienceSize: z.number().int().min(0).max(10_000_000_000).nullable().default(null),
    niche: text().trim().max(200).nullable().default(null),
    goals: z.array(text().trim().min(1).max(300)).max(20).default([]),
    /** Monthly budget in USD the creator can spend on the plan. */
    budgetUsd: z.number().min(0).max(10_000_000).nullable().default(null),
  })
  .meta({ id: 'CreatorProfileBody' });
export type CreatorProfileBody = z.infer<typeof creatorProfileBodySchema>;

export const creatorProfileSchema = z
  .object({
    userId: z.uuid(),
    platforms: z.array(z.string()),
    audienceSize: z.number().nullable(),
    niche: z.string().nullable(),
    goals: z.array(z.string()),
    budgetUsd: z.number().nullable(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'CreatorProfile' });
export type CreatorProfile = z.infer<typeof creatorProfileSchema>;

// ---------------------------------------------------------------- chat

export const chatUsageSchema = z.object({
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
});

/**
 * `complete`; `incomplete` when the reply failed (the partial, if any, was kept); `pending` for a
 * coach reply accepted but not finished yet (its text streams as `chat:token`).
 */
export const CHAT_MESSAGE_STATUSES = ['complete', 'incomplete', 'pending'] as const;
export const chatMessageStatusSchema = z.enum(CHAT_MESSAGE_STATUSES);

export const chatMessageSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    /** Author of a user message; for a coach reply, the member who asked (costs go to them). */
    userId: z.uuid().nullable(),
    /** Display name of the author (user messages). */
    authorName: z.string().nullable(),
    status: chatMessageStatusSchema,
    /** The user message a coach reply answers. */
    replyTo: z.uuid().nullable(),
    /** openai | anthropic | offline (coach replies). */
    provider: z.string().nullable(),
    model: z.string().nullable(),
    /** True when the offline coach wrote the reply (no LLM key configured). */
    offline: z.boolean(),
    usage: chatUsageSchema.nullable(),
    costUsd: z.number().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'ChatMessage' });
export type ChatMessage = z.infer<typeof chatMessageSchema>;

/** A chat message as members write it, over REST and in `chat:send`. */
export const chatContentSchema = text().trim().min(1).max(8000);

export const sendChatBodySchema = z
  .strictObject({ content: chatContentSchema })
  .meta({ id: 'SendChatBody' });

// ---------------------------------------------------------------- decisions

export const decisionSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    category: decisionCategorySchema,
    /** The sentence the decision was read from. */
    statement: z.string(),
    confidence: confidenceSchema,
    rationale: z.string(),
    /** The member who said it, or null for the coach. */
    decidedBy: z.uuid().nullable(),
    decidedByName: z.string(),
    sourceMessageId: z.uuid(),
    status: z.enum(['active', 'superseded']),
    supersededBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Decision' });
export type Decision = z.infer<typeof decisionSchema>;

// ---------------------------------------------------------------- plan templates and plans

const taskTemplateSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  description: z.string().default(''),
  estimateHours: z.number().min(0),
  estimateCostUsd: z.number().min(0).default(0),
});

const phaseTemplateSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  description: z.string().default(''),
  durationWeeks: z.number().min(0),
  tasks: z.array(taskTemplateSchema).min(1),
});

const decisionPointSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  category: decisionCategorySchema,
  question: z.string().min(1),
  /** The task that cannot be done before this is decided. */
  taskId: z.string(),
});

/** A plan template as stored in `server/coach/templates/*.json`. */
export const planTemplateSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  summary: z.string().min(1),
  category: z.string().min(1),
  revenueRange: z.string().default(''),
  phases: z.array(phaseTemplateSchema).min(1),
  tips: z.array(z.string()).default([]),
  pitfalls: z.array(z.string()).default([]),
  decisionPoints: z.array(decisionPointSchema).default([]),
});
export type PlanTemplate = z.infer<typeof planTemplateSchema>;

export const planTemplateSummarySchema = z
  .object({
    id: z.string(),
    title: z.string(),
    summary: z.string(),
    category: z.string(),
    phases: z.number().int(),
    tasks: z.number().int(),
    estimateHours: z.number(),
  })
  .meta({ id: 'PlanTemplateSummary' });

export const applyPlanBodySchema = z
  .strictObject({ templateId: text().min(1).max(100) })
  .meta({ id: 'ApplyPlanBody' });

const progressSchema = z.object({
  done: z.number().int(),
  total: z.number().int(),
  /** 0..1; 0 for a plan without tasks. */
  ratio: z.number(),
  hoursDone: z.number(),
  hoursTotal: z.number(),
});
export type PlanProgress = z.infer<typeof progressSchema>;

export const planTaskSchema = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  estimateHours: z.number(),
  estimateCostUsd: z.number(),
  done: z.boolean(),
});

export const planSchema = z
  .object({
    projectId: z.uuid(),
    templateId: z.string().nullable(),
    title: z.string().nullable(),
    summary: z.string().nullable(),
    phases: z.array(
      z.object({
        id: z.string(),
        title: z.string(),
        description: z.string(),
        durationWeeks: z.number(),
        tasks: z.array(planTaskSchema),
        progress: progressSchema,
      }),
    ),
    tips: z.array(z.string()),
    pitfalls: z.array(z.string()),
    decisionPoints: z.array(
      z.object({
        id: z.string(),
        category: decisionCategorySchema,
        question: z.string(),
        taskId: z.string(),
        /** The active decision of that category, if any. */
        decisionId: z.string().nullable(),
      }),
    ),
    progress: progressSchema,
  })
  .meta({ id: 'Plan' });
export type Plan = z.infer<typeof planSchema>;

// ---------------------------------------------------------------- usage

export const usageQuerySchema = z.strictObject({
  workspaceId: z.uuid(),
  /** How many UTC days back, today included. Default 30. */
  days: z.coerce.number().int().min(1).max(366).default(30),
});

const usageFigures = {
  messages: z.number().int(),
  replies: z.number().int(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  costUsd: z.number(),
};

export const coachUsageSchema = z
  .object({
    workspaceId: z.uuid(),
    from: z.iso.datetime(),
    byMember: z.array(z.object({ userId: z.uuid(), name: z.string(), ...usageFigures })),
    byDay: z.array(z.object({ day: z.string(), ...usageFigures })),
    total: z.object(usageFigures),
  })
  .meta({ id: 'CoachUsage' });
export type CoachUsage = z.infer<typeof coachUsageSchema>;

export const setTaskBodySchema = z.strictObject({ done: z.boolean() }).meta({ id: 'SetTaskBody' });

export const taskParamsSchema = z.strictObject({
  id: z.uuid(),
  taskId: text().min(1).max(100),
});
