import { z } from 'zod';
import { jobStatusSchema } from './job-status.ts';
import { text } from './text.ts';

/** Largest frame a render may have (1080p). */
export const MAX_RENDER_WIDTH = 1920;
export const MAX_RENDER_HEIGHT = 1080;
/** Highest frame rate a render may have. */
export const MAX_RENDER_FPS = 60;
/** Shortest and longest scene, in seconds. */
export const MIN_SCENE_SECONDS = 0.5;
export const MAX_SCENE_SECONDS = 120;
/** Longest whole render (10 minutes), in seconds. */
export const MAX_RENDER_SECONDS = 600;
/** Most scenes in one render; 10 minutes of 0.5 s scenes would be 1200. */
export const MAX_RENDER_SCENES = 200;
/** Longest scene text, in characters. */
export const MAX_SCENE_TEXT_LENGTH = 1000;

/** An uploaded asset of the project, referenced by its id; the worker resolves it to a file. */
export const assetIdSchema = z.uuid({ error: 'must be an asset id (uuid)' });

/** `#rrggbb`, the only colour form a spec accepts (it ends up in an FFmpeg source, so no names). */
export const hexColorSchema = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, { error: 'must be a colour as #rrggbb' });

const evenDimension = (max: number) =>
  z
    .int({ error: 'must be an integer' })
    .min(2, { error: 'must be at least 2' })
    .max(max, { error: `must be at most ${max}` })
    .refine((value) => value % 2 === 0, { error: 'must be even' });

/** A scene background: a flat colour or a project image (scaled to fit, letterboxed). */
export const sceneBackgroundSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('color'), color: hexColorSchema }),
    z.strictObject({ type: z.literal('image'), assetId: assetIdSchema }),
  ],
  { error: "must be {type: 'color', color} or {type: 'image', assetId}" },
);

/**
 * One scene. `durationSec` may be left out only when the scene has a voice-over: the scene then
 * lasts as long as the voice-over (known after the worker probes the audio).
 */
export const renderSceneSchema = z
  .strictObject({
    text: text().max(MAX_SCENE_TEXT_LENGTH, {
      error: `must be at most ${MAX_SCENE_TEXT_LENGTH} characters`,
    }),
    durationSec: z
      .number({ error: 'must be a number' })
      .min(MIN_SCENE_SECONDS, { error: `must be at least ${MIN_SCENE_SECONDS}` })
      .max(MAX_SCENE_SECONDS, { error: `must be at most ${MAX_SCENE_SECONDS}` })
      .optional(),
    background: sceneBackgroundSchema,
    voiceoverAssetId: assetIdSchema.optional(),
  })
  .refine((scene) => scene.durationSec !== undefined || scene.voiceoverAssetId !== undefined, {
    error: 'is required when the scene has no voice-over',
    path: ['durationSec'],
  });

/**
 * What a render job makes: an MP4 of `scenes` one after the other, each with its background
 * and text, the voice-overs and optional music mixed under them.
 *
 * `subtitles: true` shows each scene's text as a caption at the bottom of the frame;
 * `false` (the default) shows it as a title in the middle.
 *
 * Strict: unknown keys are rejected, and every issue names its field path.
 */
export const renderSpecSchema = z
  .strictObject({
    width: evenDimension(MAX_RENDER_WIDTH),
    height: evenDimension(MAX_RENDER_HEIGHT),
    fps: z
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be at least 1' })
      .max(MAX_RENDER_FPS, { error: `must be at most ${MAX_RENDER_FPS}` }),
    scenes: z
      .array(renderSceneSchema, { error: 'must be a list of scenes' })
      .min(1, { error: 'must have at least one scene' })
      .max(MAX_RENDER_SCENES, { error: `must have at most ${MAX_RENDER_SCENES} scenes` }),
    musicAssetId: assetIdSchema.optional(),
    subtitles: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .superRefine((spec, ctx) => {
    // Scenes timed by their voice-over are checked again by the worker once it knows their length.
    const known = spec.scenes.reduce((sum, scene) => sum + (scene.durationSec ?? 0), 0);
    if (known > MAX_RENDER_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['scenes'],
        message: `total duration must be at most ${MAX_RENDER_SECONDS} seconds (is ${known})`,
      });
    }
  });

/** A render spec as the API receives it (defaults not yet applied). */
export type RenderSpecInput = z.input<typeof renderSpecSchema>;
/** A validated render spec. */
export type RenderSpec = z.output<typeof renderSpecSchema>;
export type RenderScene = RenderSpec['scenes'][number];
export type SceneBackground = RenderScene['background'];

/** One problem with a spec: the dotted field path (`scenes.0.durationSec`) and what is wrong. */
export interface RenderSpecIssue {
  path: string;
  message: string;
}

/** Turns a zod error of {@link renderSpecSchema} into issues that name their field. */
export function renderSpecIssues(error: z.ZodError): RenderSpecIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(spec)';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => (path === '(spec)' ? key : `${path}.${key}`));
      return { path: keys.join(', '), message: 'unknown field' };
    }
    return { path, message: issue.message };
  });
}

/** One line naming every bad field: `scenes.0.durationSec: must be at most 120; fps: ...`. */
export function describeRenderSpecError(error: z.ZodError): string {
  return renderSpecIssues(error)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join('; ');
}

/** `POST /projects/:id/renders`: the spec, and an optional key that makes a retry safe. */
export const submitRenderBodySchema = z
  .strictObject({
    spec: renderSpecSchema,
    /** A repeated submit with the same key in the same project returns the first render. */
    idempotencyKey: text().min(1).max(200).optional(),
  })
  .meta({ id: 'SubmitRenderBody' });

/** A render as the API shows it. */
export const renderSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    workspaceId: z.uuid(),
    status: jobStatusSchema,
    /** 0..1 */
    progress: z.number(),
    /** Deliveries to a worker so far (retries and take-overs count). */
    attempt: z.int(),
    spec: z.record(z.string(), z.unknown()),
    /** Why the render failed (the last attempt's error). */
    error: z.string().nullable(),
    durationSec: z.number().nullable(),
    bytes: z.int().nullable(),
    /** `/api/v1/renders/<id>/output` once completed, else null. */
    outputUrl: z.string().nullable(),
    thumbnailUrl: z.string().nullable(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Render' });
export type RenderWire = z.infer<typeof renderSchema>;
