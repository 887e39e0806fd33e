import { z } from 'zod';
import { jobStatusSchema } from './job-status.ts';
import { text } from './text.ts';

/**
 * The pipeline's steps, in the only order they may run (SPEC "Pipeline"): a run asks for an
 * ordered subset of them.
 */
export const PIPELINE_STEPS = ['script', 'voiceover', 'thumbnail', 'render', 'publish'] as const;
export const pipelineStepNameSchema = z.enum(PIPELINE_STEPS, {
  error: `must be one of ${PIPELINE_STEPS.join(', ')}`,
});
export type PipelineStepName = z.infer<typeof pipelineStepNameSchema>;

/** What a failed step or run says; `code` is one of {@link PIPELINE_ERROR_CODES} or a step's own. */
export const PIPELINE_ERROR_CODES = [
  'spend_limit_reached',
  'insufficient_credits',
  'script_not_empty',
  'script_empty',
  'missing_input',
  'publish_not_configured',
  'youtube_quota_exhausted',
  'youtube_upload_limit',
  'step_failed',
  'deadline_exceeded',
  'cancelled',
] as const;
export type PipelineErrorCode = (typeof PIPELINE_ERROR_CODES)[number];

export const pipelineErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** Specifics, e.g. `resetAt` of `youtube_quota_exhausted`. */
  details: z.record(z.string(), z.unknown()).optional(),
});
export type PipelineError = z.infer<typeof pipelineErrorSchema>;

/** The kinds of artifact a step makes. */
export const ARTIFACT_KINDS = [
  'script',
  'voiceover',
  'thumbnail',
  'video',
  'subtitles',
  'youtube',
] as const;

/**
 * One thing a step made. Every file is a project asset (`assetId`, its bytes at `url`);
 * voice-overs carry `sceneIndex` and `durationSec`, thumbnails `width`/`height`, the video
 * `renderId`, an upload `youtubeVideoId`.
 */
export const pipelineArtifactSchema = z
  .object({
    kind: z.enum(ARTIFACT_KINDS),
    assetId: z.uuid().optional(),
    url: z.string().optional(),
    sceneIndex: z.int().nonnegative().optional(),
    durationSec: z.number().nonnegative().optional(),
    width: z.int().positive().optional(),
    height: z.int().positive().optional(),
    renderId: z.uuid().optional(),
    youtubeVideoId: z.string().optional(),
    /** A voice-over found in the cache (same narration, engine, voice and settings). */
    cached: z.boolean().optional(),
    /** The voice-over's cache key. */
    key: z.string().optional(),
  })
  .meta({ id: 'PipelineArtifact' });
export type PipelineArtifact = z.infer<typeof pipelineArtifactSchema>;

export const pipelineStepSchema = z
  .object({
    name: pipelineStepNameSchema,
    status: jobStatusSchema,
    progress: z.number().min(0).max(1),
    error: pipelineErrorSchema.nullable(),
    costUsd: z.number(),
    credits: z.int(),
    artifacts: z.array(pipelineArtifactSchema),
    attempt: z.int(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'PipelineStep' });
export type PipelineStep = z.infer<typeof pipelineStepSchema>;

export const publishPrivacySchema = z.enum(['private', 'unlisted', 'public']);

export const publishOptionsSchema = z.strictObject({
  channelId: text().min(1, { error: 'is required' }).max(200),
  privacy: publishPrivacySchema.default('private'),
});
export type PublishOptions = z.output<typeof publishOptionsSchema>;

/** `POST /projects/:id/pipeline-runs`. */
export const createPipelineRunBodySchema = z
  .strictObject({
    /** An ordered subset of the steps; default `script` (when the script is empty), then voiceover, thumbnail, render. */
    steps: z
      .array(pipelineStepNameSchema, { error: 'must be a list of steps' })
      .min(1, { error: 'must name at least one step' })
      .optional(),
    publish: publishOptionsSchema.optional(),
    /** A repeated POST with the same key in the same project returns the first run. */
    idempotencyKey: text().min(1).max(200).optional(),
  })
  .superRefine((body, ctx) => {
    const steps = body.steps ?? [];
    const positions = steps.map((step) => PIPELINE_STEPS.indexOf(step));
    for (let i = 1; i < positions.length; i++) {
      if (positions[i]! <= positions[i - 1]!) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i],
          message: `${steps[i]} cannot come after ${steps[i - 1]}: steps run in the order ${PIPELINE_STEPS.join(', ')}, each once`,
        });
        return;
      }
    }
    if (steps.includes('publish') && !body.publish) {
      ctx.addIssue({
        code: 'custom',
        path: ['publish', 'channelId'],
        message: 'is required when the steps include publish',
      });
    }
  })
  .meta({ id: 'CreatePipelineRunBody' });
export type CreatePipelineRunBody = z.output<typeof createPipelineRunBodySchema>;

export const pipelineRunSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    workspaceId: z.uuid(),
    status: jobStatusSchema,
    steps: z.array(pipelineStepSchema),
    publish: publishOptionsSchema.nullable(),
    error: pipelineErrorSchema.nullable(),
    costUsd: z.number(),
    credits: z.int(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'PipelineRun' });
export type PipelineRun = z.infer<typeof pipelineRunSchema>;

export const pipelineRunIdParamsSchema = z.strictObject({ id: z.uuid() });

/** One provider call of a step (SPEC `GET /projects/:id/costs`). */
export const costEntrySchema = z
  .object({
    runId: z.uuid(),
    step: pipelineStepNameSchema,
    provider: z.string(),
    model: z.string(),
    units: z.number(),
    /** `tokens`, `characters`, `seconds`, `images`. */
    unit: z.string(),
    usd: z.number(),
    userId: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'CostEntry' });
export type CostEntry = z.infer<typeof costEntrySchema>;

export const projectCostsSchema = z
  .object({
    totalUsd: z.number(),
    byStep: z.array(z.object({ step: pipelineStepNameSchema, usd: z.number(), calls: z.int() })),
    byMember: z.array(z.object({ userId: z.uuid().nullable(), usd: z.number(), calls: z.int() })),
    entries: z.array(costEntrySchema),
  })
  .meta({ id: 'ProjectCosts' });
export type ProjectCosts = z.infer<typeof projectCostsSchema>;

/** `POST /billing/grants` (owners; only without Stripe). */
export const grantCreditsBodySchema = z
  .strictObject({
    workspaceId: z.uuid({ error: 'must be a workspace id' }),
    credits: z
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(100_000, { error: 'must be at most 100000' }),
    reason: text().min(1, { error: 'is required' }).max(500),
  })
  .meta({ id: 'GrantCreditsBody' });
