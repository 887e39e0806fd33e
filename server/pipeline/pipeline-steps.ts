import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Y from 'yjs';
import {
  type FfmpegBinaries,
  type ImageGenerator,
  type ThumbnailBackground,
  type ThumbnailMaker,
  thumbnailImagePrompt,
} from '../../render-farm/index.ts';
import {
  captionCues,
  type SentenceTiming,
  type SpeechEngine,
  synthesizeVoiceOver,
  toWebVtt,
  voiceOverCacheKey,
} from '../../render-farm/speech/index.ts';
import type { PipelineArtifact, PipelineStepName, PublishOptions } from '../../shared/pipeline.ts';
import type { RenderScene, RenderSpec } from '../../shared/render-spec.ts';
import {
  parseScript,
  printScript,
  type ScriptScene,
  SILENT_SCENE_SECONDS,
} from '../../shared/script-format.ts';
import { SCRIPT_TEXT, yjsDocName } from '../../shared/yjs-docs.ts';
import type { CoachProvider } from '../coach/coach-provider.ts';
import { streamWithFallback } from '../coach/coach-provider.ts';
import type { PriceTable } from '../coach/index.ts';
import { DomainError } from '../errors.ts';
import type { AssetService } from '../renders/asset-service.ts';
import type { RenderService } from '../renders/render-service.ts';
import type { FileStorage } from '../storage/index.ts';
import type { YoutubePublisher } from '../youtube/index.ts';

/** A step failure with a code the run shows (`spend_limit_reached`, `missing_input`, ...). */
export class StepError extends Error {
  override readonly name: string = 'StepError';
  constructor(
    readonly code: string,
    message: string,
    /** False: retrying the same input cannot help (no retries on the queue). */
    readonly retryable = false,
    /** Specifics the run shows beside the code (`resetAt` of a quota refusal). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** One provider call a step made, for `pipeline_costs`. */
export interface StepCost {
  provider: string;
  model: string;
  units: number;
  unit: 'tokens' | 'characters' | 'seconds' | 'images';
  usd: number;
}

/** What a step is given to run. */
export interface StepContext {
  runId: string;
  stepId: string;
  projectId: string;
  workspaceId: string;
  userId: string | null;
  project: { title: string; topic: string };
  /** The run's earlier steps' artifacts (this run only). */
  previous: Map<PipelineStepName, PipelineArtifact[]>;
  signal: AbortSignal;
  /** 0..1 with a short message; the worker sends it to the room at least once a second. */
  progress(value: number, message?: string): void;
  /** Records one provider call (written at once: spend is spend, even if the step fails later). */
  cost(entry: StepCost): Promise<void>;
  /** The run's idempotency scope for calls to other services (the render's key). */
  idempotencyKey: string;
  /** The run's `publish` options (channel, privacy); null when the run does not publish. */
  publish?: PublishOptions | null;
}

export interface StepResult {
  artifacts: PipelineArtifact[];
}

/** What every step reaches; built once per node by the pipeline runtime. */
export interface StepDependencies {
  readScript(projectId: string): Promise<string>;
  /** A server edit of a Yjs document (stored and broadcast like a client's). */
  editDocument(docName: string, edit: (doc: Y.Doc) => void): Promise<void>;
  coach: CoachProvider;
  prices: PriceTable;
  speech: SpeechEngine;
  /** OpenAI images when keyed: the thumbnail's background; absent: a frame or a gradient. */
  images?: (ImageGenerator & { model: string; quality: string; size: string }) | undefined;
  ffmpeg: FfmpegBinaries;
  thumbnails: ThumbnailMaker;
  assets: AssetService;
  storage: FileStorage;
  renders: RenderService;
  /** How often the render step looks at its render's row. Default 250 ms: a primary-key read, and the run ends within a quarter second of its render. */
  renderPollMs?: number;
  scratchDir?: string;
  /** Publishing to YouTube; absent: the publish step fails with `publish_not_configured`. */
  publisher?: YoutubePublisher | undefined;
}

/** Background colours of scenes (and the thumbnail), one per scene in turn. */
const PALETTE = ['#1e3a5f', '#3d2c5e', '#1f4d3a', '#5e2c2c', '#2c4a5e', '#4a3b1f'];

/** A step's estimate of its provider spend in USD before it starts (for the limits). */
export function estimateStepUsd(
  name: PipelineStepName,
  deps: StepDependencies,
  script: string,
): number {
  switch (name) {
    case 'script':
      return deps.coach.name === 'offline'
        ? 0
        : deps.prices.costUsd(deps.coach.model, { inputTokens: 1500, outputTokens: 1200 });
    case 'voiceover': {
      if (deps.speech.id !== 'openai') return 0;
      const characters = parseScript(script).scenes.reduce((n, s) => n + s.narration.length, 0);
      return deps.prices.speechCostUsd(speechModel(deps.speech), {
        characters,
        durationSec: estimateNarrationSec(script),
      }).usd;
    }
    case 'thumbnail':
      return deps.images
        ? deps.prices.imageCostUsd({
            model: deps.images.model,
            quality: deps.images.quality,
            size: deps.images.size,
            images: 1,
          })
        : 0;
    default:
      return 0;
  }
}

function speechModel(engine: SpeechEngine): string {
  return String(engine.settings.model ?? 'tts-1');
}

/**
 * The engine with every call to a paid provider recorded as it returns (one cost entry per
 * call: per sentence), so spend is on record even when a later sentence fails.
 */
function meteredSpeech(ctx: StepContext, deps: StepDependencies): SpeechEngine {
  const engine = deps.speech;
  if (engine.id !== 'openai') return engine;
  return {
    id: engine.id,
    voice: engine.voice,
    settings: engine.settings,
    close: () => engine.close(),
    async synthesize(request) {
      const result = await engine.synthesize(request);
      const model = speechModel(engine);
      const cost = deps.prices.speechCostUsd(model, {
        characters: request.text.length,
        durationSec: result.durationSec,
      });
      await ctx.cost({ provider: 'openai', model, ...cost });
      return result;
    },
  };
}

/** Seconds of narration a script is likely to take (for the voice-over charge before it runs). */
export function estimateNarrationSec(script: string): number {
  const characters = parseScript(script).scenes.reduce((n, s) => n + s.narration.length, 0);
  return characters / 14;
}

export async function runStep(
  name: PipelineStepName,
  ctx: StepContext,
  deps: StepDependencies,
): Promise<StepResult> {
  switch (name) {
    case 'script':
      return scriptStep(ctx, deps);
    case 'voiceover':
      return voiceoverStep(ctx, deps);
    case 'thumbnail':
      return thumbnailStep(ctx, deps);
    case 'render':
      return renderStep(ctx, deps);
    case 'publish':
      return publishStep(ctx, deps);
  }
}

/**
 * A deterministic offline draft about the topic: four scenes, marked by a `//` note as
 * offline so nobody takes it for a model's work.
 */
export function offlineDraft(topic: string, title: string): string {
  const subject = topic.trim() || title.trim() || 'our video';
  return `${printScript([
    {
      title: title.trim() || subject,
      notes: ['Offline draft: no AI provider is configured, so this script comes from a template.'],
      narration: `Welcome! Today we talk about ${subject}. Stay with us to the end.`,
    },
    {
      title: 'Why it matters',
      narration: `Here is why ${subject} matters. It saves time, and it helps you focus on what counts.`,
    },
    {
      title: 'How to start',
      narration: `Start small. Pick one part of ${subject}, try it this week, and see what changes.`,
    },
    {
      title: 'Thanks for watching',
      narration: `That was ${subject} in a nutshell. Subscribe for the next video.`,
    },
  ])}\n`;
}

const SCRIPT_SYSTEM_PROMPT = [
  'You write short video scripts in this exact format:',
  '- scenes are separated by a line holding only ---',
  '- a scene starts with a line "# <on-screen title>"',
  '- the other lines of a scene are its narration, spoken by a voice-over: plain sentences',
  '- lines starting with // are notes for the team, neither spoken nor shown',
  'Write 3 to 6 scenes, under a minute in all. Output only the script.',
].join('\n');

/**
 * Drafts the script into the live Y.Text `script` as server edits, streamed as it is
 * generated, so everyone in the room watches it being typed. Text is only ever appended at
 * the end: a collaborator's typing is never overwritten. Refused when the script is not empty.
 */
async function scriptStep(ctx: StepContext, deps: StepDependencies): Promise<StepResult> {
  const docName = yjsDocName(ctx.projectId, 'script');
  const before = await deps.readScript(ctx.projectId);
  if (before.trim() !== '') {
    throw new StepError(
      'script_not_empty',
      'the script is not empty; the draft step never overwrites it',
    );
  }
  let pending = '';
  let written = 0;
  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    if (pending === '') return flushing;
    const piece = pending;
    pending = '';
    flushing = flushing.then(() =>
      deps.editDocument(docName, (doc) => {
        const text = doc.getText(SCRIPT_TEXT);
        text.insert(text.length, piece);
      }),
    );
    written += piece.length;
    return flushing;
  };
  const expected = 600;
  const onDelta = (delta: string) => {
    pending += delta;
    if (pending.includes('\n') || pending.length > 40) void flush();
    ctx.progress(Math.min(0.95, (written + pending.length) / expected), 'drafting the script');
  };
  if (deps.coach.name === 'offline') {
    const draft = offlineDraft(ctx.project.topic, ctx.project.title);
    for (const line of draft.match(/[^\n]*\n|[^\n]+/g) ?? []) {
      if (ctx.signal.aborted) throw new StepError('cancelled', 'cancelled');
      onDelta(line);
      await flush();
    }
  } else {
    const result = await streamWithFallback(
      deps.coach,
      {
        system: SCRIPT_SYSTEM_PROMPT,
        messages: [
          {
            role: 'user',
            content: `Video title: ${ctx.project.title}\nTopic: ${ctx.project.topic}\nWrite the script.`,
          },
        ],
        maxOutputTokens: 1200,
        signal: ctx.signal,
      },
      onDelta,
    );
    await ctx.cost({
      provider: deps.coach.name,
      model: result.model,
      units: result.usage.inputTokens + result.usage.outputTokens,
      unit: 'tokens',
      usd: deps.prices.costUsd(result.model, result.usage),
    });
  }
  await flush();
  const text = await deps.readScript(ctx.projectId);
  const scenes = parseScript(text).scenes.length;
  const id = randomUUID();
  const key = `assets/${ctx.projectId}/${id}.txt`;
  const info = await deps.storage.write(key, Buffer.from(text, 'utf8'));
  const asset = await deps.assets.recordGenerated({
    id,
    projectId: ctx.projectId,
    userId: ctx.userId,
    key,
    mediaType: 'text/plain',
    source: 'script',
    bytes: info.bytes,
    meta: { scenes, provider: deps.coach.name },
  });
  return { artifacts: [{ kind: 'script', assetId: asset.id }] };
}

interface SceneVoice {
  scene: ScriptScene;
  durationSec: number;
  assetId: string | null;
  sentences: SentenceTiming[];
}

/**
 * One loudness-normalised WAV per narrated scene, found by its cache key (narration, engine,
 * voice, settings) when an earlier run made it: an unchanged scene is never synthesised again.
 * Then the WebVTT captions of the whole video, following the narration.
 */
async function voiceoverStep(ctx: StepContext, deps: StepDependencies): Promise<StepResult> {
  const scenes = parseScript(await deps.readScript(ctx.projectId)).scenes;
  if (scenes.length === 0) throw new StepError('script_empty', 'the script has no scenes');
  const narrated = scenes.filter((scene) => scene.narration !== '');
  const voices: SceneVoice[] = [];
  const artifacts: PipelineArtifact[] = [];
  const scratch = deps.scratchDir ?? tmpdir();
  await mkdir(scratch, { recursive: true });
  let done = 0;
  const engine = meteredSpeech(ctx, deps);
  for (const scene of scenes) {
    if (scene.narration === '') {
      voices.push({ scene, durationSec: SILENT_SCENE_SECONDS, assetId: null, sentences: [] });
      continue;
    }
    const key = voiceOverCacheKey({ narration: scene.narration, engine: deps.speech });
    let asset = await deps.assets.findByCacheKey(ctx.projectId, key);
    const cached = asset !== null;
    if (!asset) {
      const id = randomUUID();
      const storageKey = `assets/${ctx.projectId}/${id}.wav`;
      // Made in the scratch directory, then stored (the storage may be a bucket).
      const outputPath = join(scratch, `${id}.wav`);
      const voice = await synthesizeVoiceOver({
        narration: scene.narration,
        engine,
        ffmpeg: deps.ffmpeg,
        scratchDir: scratch,
        outputPath,
        signal: ctx.signal,
        onSentence: (n, total) =>
          ctx.progress(
            (done + n / total) / Math.max(1, narrated.length),
            `scene ${scene.index + 1}: sentence ${n} of ${total}`,
          ),
      });
      asset = await deps.assets.recordGenerated({
        id,
        projectId: ctx.projectId,
        userId: ctx.userId,
        key: storageKey,
        mediaType: 'audio/wav',
        source: 'voiceover',
        bytes: (await deps.storage.upload(storageKey, outputPath, { move: true })).bytes,
        durationSec: voice.durationSec,
        cacheKey: key,
        meta: { sentences: voice.sentences, engine: voice.engine, voice: voice.voice },
      });
    }
    done += 1;
    ctx.progress(done / Math.max(1, narrated.length), `scene ${scene.index + 1} ready`);
    const sentences = ((asset.meta?.sentences as SentenceTiming[] | undefined) ?? []).slice();
    voices.push({ scene, durationSec: asset.durationSec ?? 0, assetId: asset.id, sentences });
    artifacts.push({
      kind: 'voiceover',
      assetId: asset.id,
      sceneIndex: scene.index,
      durationSec: asset.durationSec ?? 0,
      cached,
      key,
    });
  }
  let offset = 0;
  const cues = captionCues(
    voices.map((voice) => {
      const entry = { offsetSec: offset, sentences: voice.sentences };
      offset += voice.durationSec;
      return entry;
    }),
  );
  const vttId = randomUUID();
  const vttKey = `assets/${ctx.projectId}/${vttId}.vtt`;
  const info = await deps.storage.write(vttKey, Buffer.from(toWebVtt(cues), 'utf8'));
  const vtt = await deps.assets.recordGenerated({
    id: vttId,
    projectId: ctx.projectId,
    userId: ctx.userId,
    key: vttKey,
    mediaType: 'text/vtt',
    source: 'voiceover',
    bytes: info.bytes,
    durationSec: offset,
  });
  artifacts.push({ kind: 'subtitles', assetId: vtt.id, durationSec: offset });
  return { artifacts };
}

/** A 1280×720 PNG: the project's latest image (or the first scene's colour) with the title. */
async function thumbnailStep(ctx: StepContext, deps: StepDependencies): Promise<StepResult> {
  const scenes = parseScript(await deps.readScript(ctx.projectId)).scenes;
  const title = ctx.project.title || scenes[0]?.title || ctx.project.topic;
  const image = await deps.assets.latestUploadedImage(ctx.projectId);
  const scratch = deps.scratchDir ?? tmpdir();
  await mkdir(scratch, { recursive: true });
  const id = randomUUID();
  const backgroundPath = join(scratch, `${id}-background`);
  if (image) await deps.storage.localCopy(image.path, backgroundPath);
  let background: ThumbnailBackground = image
    ? { type: 'image', path: backgroundPath }
    : { type: 'gradient', from: PALETTE[0]!, to: '#0b0f19' };
  let generatedBy: string | undefined;
  if (deps.images) {
    // The model paints the background only; the maker scales and crops it to 1280x720 and
    // draws the title itself (models spell text badly).
    ctx.progress(0.05, 'generating the background image');
    const generated = await deps.images.generate({
      prompt: thumbnailImagePrompt(title, ctx.project.topic),
      signal: ctx.signal,
    });
    await ctx.cost({
      provider: generated.usage.provider,
      model: generated.usage.model,
      units: generated.usage.images,
      unit: 'images',
      usd: deps.prices.imageCostUsd(generated.usage),
    });
    background = { type: 'image', bytes: generated.bytes };
    generatedBy = generated.usage.model;
  }
  const key = `assets/${ctx.projectId}/${id}.png`;
  const outputPath = join(scratch, `${id}.png`);
  ctx.progress(0.1, 'drawing the thumbnail');
  const result = await deps.thumbnails
    .make({ title, background, outputPath, signal: ctx.signal })
    .finally(() => rm(backgroundPath, { force: true }));
  await deps.storage.upload(key, outputPath, { contentType: 'image/png', move: true });
  const asset = await deps.assets.recordGenerated({
    id,
    projectId: ctx.projectId,
    userId: ctx.userId,
    key,
    mediaType: 'image/png',
    source: 'thumbnail',
    bytes: result.bytes,
    width: result.width,
    height: result.height,
    ...(generatedBy ? { meta: { background: generatedBy } } : {}),
  });
  return {
    artifacts: [
      { kind: 'thumbnail', assetId: asset.id, width: result.width, height: result.height },
    ],
  };
}

/**
 * Builds the render spec from the scenes and their voice-overs (found by cache key, so a
 * render run on its own uses the latest voice-overs of the current script) and submits it
 * through the render farm: same queue, progress, charge and refund as any render. Waits for
 * the render's final state, reporting its progress.
 */
async function renderStep(ctx: StepContext, deps: StepDependencies): Promise<StepResult> {
  const scenes = parseScript(await deps.readScript(ctx.projectId)).scenes;
  if (scenes.length === 0) throw new StepError('script_empty', 'the script has no scenes');
  const image = await deps.assets.latestUploadedImage(ctx.projectId);
  const renderScenes: RenderScene[] = [];
  for (const scene of scenes) {
    const background = image
      ? ({ type: 'image', assetId: image.id } as const)
      : ({ type: 'color', color: PALETTE[scene.index % PALETTE.length]! } as const);
    const shown = (scene.narration || scene.title || '').replace(/\n/g, ' ').slice(0, 1000);
    if (scene.narration === '') {
      renderScenes.push({ text: shown, durationSec: SILENT_SCENE_SECONDS, background });
      continue;
    }
    const key = voiceOverCacheKey({ narration: scene.narration, engine: deps.speech });
    const voice = await deps.assets.findByCacheKey(ctx.projectId, key);
    if (!voice) {
      throw new StepError(
        'missing_input',
        `scene ${scene.index + 1} has no voice-over for its current narration; run the voiceover step first`,
      );
    }
    renderScenes.push({ text: shown, background, voiceoverAssetId: voice.id });
  }
  const spec: RenderSpec = {
    width: 1280,
    height: 720,
    fps: 24,
    scenes: renderScenes,
    subtitles: true,
  };
  const { render } = await deps.renders.submit({
    projectId: ctx.projectId,
    workspaceId: ctx.workspaceId,
    spec,
    ...(ctx.userId ? { createdBy: ctx.userId } : {}),
    idempotencyKey: ctx.idempotencyKey,
  });
  const pollMs = deps.renderPollMs ?? 250;
  for (;;) {
    if (ctx.signal.aborted) {
      await deps.renders.cancel(render.id);
      throw new StepError('cancelled', 'the run was cancelled');
    }
    const row = await deps.renders.get(render.id);
    if (!row) throw new StepError('step_failed', 'the render disappeared');
    ctx.progress(row.progress, `render ${row.status}`);
    if (row.status === 'completed') {
      return {
        artifacts: [
          {
            kind: 'video',
            renderId: row.id,
            durationSec: row.durationSec ?? undefined,
            url: `/api/v1/renders/${row.id}/output`,
          },
        ],
      };
    }
    if (row.status === 'failed' || row.status === 'cancelled') {
      throw new StepError(
        'step_failed',
        `the render ${row.status}: ${row.error ?? 'no error given'}`,
      );
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      ctx.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/**
 * Uploads the project's latest video to the run's channel (resumable, resumed from the stored
 * session after a crash) and sets the latest thumbnail: title from the project, description
 * from the script's scene titles, privacy from the run.
 */
async function publishStep(ctx: StepContext, deps: StepDependencies): Promise<StepResult> {
  if (!deps.publisher || !ctx.publish) {
    throw new StepError(
      'publish_not_configured',
      deps.publisher
        ? 'the run names no channel to publish to'
        : 'publishing needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (or GOOGLE_OAUTH_CLIENTS)',
    );
  }
  const scenes = parseScript(await deps.readScript(ctx.projectId)).scenes;
  const description = scenes
    .map((scene) => (scene.title ?? '').trim())
    .filter((title) => title !== '')
    .map((title, i) => `${i + 1}. ${title}`)
    .join('\n');
  try {
    const { youtubeVideoId } = await deps.publisher.publish({
      stepKey: ctx.idempotencyKey,
      workspaceId: ctx.workspaceId,
      projectId: ctx.projectId,
      channelId: ctx.publish.channelId,
      title: ctx.project.title.trim() || ctx.project.topic.trim() || 'Untitled',
      description,
      privacy: ctx.publish.privacy,
      signal: ctx.signal,
      progress: ctx.progress,
    });
    return {
      artifacts: [{ kind: 'youtube', youtubeVideoId, url: `https://youtu.be/${youtubeVideoId}` }],
    };
  } catch (error) {
    if (error instanceof DomainError) {
      const details =
        error.details && typeof error.details === 'object'
          ? (error.details as Record<string, unknown>)
          : undefined;
      // A quota refusal or a missing input cannot succeed on a retry of the same job.
      throw new StepError(error.code, error.message, false, details);
    }
    throw error;
  }
}
