import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import ffmpeg, { type FfprobeData } from 'fluent-ffmpeg';
import { MAX_IMAGE_DECODED_BYTES, MAX_IMAGE_PIXELS } from '../shared/assets.ts';
import {
  describeRenderSpecError,
  MAX_RENDER_SECONDS,
  MAX_SCENE_SECONDS,
  type RenderSpec,
  renderSpecSchema,
} from '../shared/render-spec.ts';
import type { AssetResolver, ResolvedAsset } from './asset-resolver.ts';
import { spawnBoundToParent } from './bound-child-process.ts';
import {
  RenderAbortedError,
  RenderFailedError,
  RenderTimeoutError,
  UnrecoverableError,
} from './errors.ts';
import { defaultFontFile, resolveFfmpegBinaries } from './ffmpeg-binaries.ts';
import {
  bytesPerPixel,
  DEFAULT_RENDER_MEMORY_BUDGET_BYTES,
  describeBytes,
  estimateRenderMemory,
  MAX_AUTO_ENCODER_THREADS,
} from './render-memory.ts';
import {
  buildMuxPlan,
  buildSegmentPlan,
  FONT_FILE_NAME,
  type PlanInputFile,
  type PlannedScene,
  sceneTextFiles,
  segmentListFile,
  segmentScenes,
} from './render-plan.ts';
import { SegmentCache } from './segment-cache.ts';

export interface FfmpegRendererOptions {
  /** FFmpeg binary. Default: `ffmpeg` on the PATH, else `@ffmpeg-installer/ffmpeg`. */
  ffmpegPath?: string;
  /** FFprobe binary. Default: `ffprobe` on the PATH, else `@ffprobe-installer/ffprobe`. */
  ffprobePath?: string;
  /** TTF for scene text. Default: DejaVu Sans from `dejavu-fonts-ttf` (never a system font). */
  fontFile?: string;
  /**
   * Wall-clock limit of one render; FFmpeg is killed when it is reached. Default 15 minutes,
   * enough for a 10-minute 1080p render on one core.
   */
  timeoutMs?: number;
  /** Where per-render work directories are made. Default: the OS temp directory. */
  workDir?: string;
  /** x264 preset. Default `veryfast`: renders are slideshows, speed beats compression. */
  preset?: string;
  /**
   * x264 threads per render; 0 picks the cores, at most {@link MAX_AUTO_ENCODER_THREADS} (each
   * thread holds frames: see `estimateRenderMemory`). Default 0.
   */
  threads?: number;
  /**
   * Memory one render may need, in bytes, as {@link estimateRenderMemory} estimates it from the
   * spec and the probed images; a render over it fails as unrecoverable (naming `spec`) before
   * FFmpeg starts, and the video passes get as many scenes as fit it. Default
   * {@link DEFAULT_RENDER_MEMORY_BUDGET_BYTES} (512 MiB), the render service's default too, so
   * what the API accepts a worker renders.
   */
  memoryBudgetBytes?: number;
  /**
   * Where encoded scene segments are kept for re-renders ({@link SegmentCache}). Default:
   * none (no cache). With the cache each scene is its own segment, so a re-render after one
   * scene's edit (a pipeline re-run) encodes that scene only and joins the others from it.
   */
  segmentCacheDir?: string | undefined;
}

/** An image of a render, probed: each distinct asset once, however many scenes use it. */
interface PreparedImage {
  path: string;
  width: number;
  height: number;
  pixelFormat: string | undefined;
}

export interface RenderRequest {
  spec: RenderSpec;
  projectId: string;
  assets: AssetResolver;
  /** Final paths; written under a temporary name in the same directory, then renamed. */
  videoPath: string;
  thumbnailPath: string;
  /** Aborting kills FFmpeg (SIGKILL) and rejects with {@link RenderAbortedError}. */
  signal?: AbortSignal;
  onProgress?: (progress: RenderProgress) => void;
  /** Called with FFmpeg's process id each time one starts. */
  onProcess?: (pid: number) => void;
}

export interface RenderProgress {
  phase: 'probing' | 'encoding' | 'thumbnail';
  /** 0..1 over the whole render. */
  progress: number;
  /** Frames per second FFmpeg is encoding at. */
  fps?: number;
  etaSeconds?: number;
}

export interface RenderResult {
  videoPath: string;
  thumbnailPath: string;
  durationSec: number;
  width: number;
  height: number;
  bytes: number;
}

/** Share of the progress bar the encode takes; the thumbnail takes the rest. */
const ENCODE_SHARE = 0.97;
/** Share of the encode the video passes take; the pass that joins them and encodes audio the rest. */
const VIDEO_SHARE = 0.9;
/** Name of the ffconcat file listing the video segments, in the work directory. */
const SEGMENT_LIST = 'segments.ffconcat';
const STDERR_TAIL_LINES = 8;
/** Lines of FFmpeg's stderr kept while it runs, for the tail of an error. */
const STDERR_KEPT_LINES = 64;

/**
 * Renders a {@link RenderSpec} into an H.264/AAC MP4 (yuv420p, faststart) and a PNG thumbnail
 * with FFmpeg. Inputs are probed first (FFprobe through fluent-ffmpeg); only the `file`
 * protocol is allowed; scene text reaches FFmpeg only through files; a wall-clock limit kills
 * FFmpeg, and so does the death of this process.
 */
export class FfmpegRenderer {
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  private readonly fontFile: string;
  private readonly timeoutMs: number;
  private readonly workDir: string;
  private readonly preset: string;
  private readonly threads: number;
  private readonly memoryBudgetBytes: number;
  private readonly segments: SegmentCache | undefined;

  constructor(options: FfmpegRendererOptions = {}) {
    const binaries = resolveFfmpegBinaries({
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    });
    this.ffmpegPath = binaries.ffmpegPath;
    this.ffprobePath = binaries.ffprobePath;
    this.fontFile = options.fontFile ?? defaultFontFile();
    this.timeoutMs = options.timeoutMs ?? 15 * 60 * 1000;
    this.workDir = options.workDir ?? tmpdir();
    this.preset = options.preset ?? 'veryfast';
    this.threads = options.threads ?? 0;
    this.memoryBudgetBytes = options.memoryBudgetBytes ?? DEFAULT_RENDER_MEMORY_BUDGET_BYTES;
    if (!(this.memoryBudgetBytes > 0)) throw new RangeError('memoryBudgetBytes must be positive');
    this.segments = options.segmentCacheDir
      ? new SegmentCache({ dir: options.segmentCacheDir })
      : undefined;
    if (!(this.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    if (!Number.isInteger(this.threads) || this.threads < 0) {
      throw new RangeError('threads must be a non-negative integer');
    }
  }

  /** Runs FFprobe on a file (file protocol only). */
  probe(path: string): Promise<FfprobeData> {
    return new Promise((resolve, reject) => {
      ffmpeg(path)
        .setFfprobePath(this.ffprobePath)
        .ffprobe(['-protocol_whitelist', 'file'], (error: Error | null, data: FfprobeData) => {
          if (error)
            reject(
              new RenderFailedError(`ffprobe failed on ${basename(path)}`, tail(error.message)),
            );
          else resolve(data);
        });
    });
  }

  /** Renders one spec. See {@link RenderRequest}. */
  async render(request: RenderRequest): Promise<RenderResult> {
    const parsed = renderSpecSchema.safeParse(request.spec);
    if (!parsed.success) {
      throw new UnrecoverableError(`invalid render spec: ${describeRenderSpecError(parsed.error)}`);
    }
    const spec = parsed.data;
    const { signal } = request;
    throwIfAborted(signal);
    const report = (progress: RenderProgress) => request.onProgress?.(progress);
    report({ phase: 'probing', progress: 0 });

    const started = Date.now();
    const remainingMs = () => this.timeoutMs - (Date.now() - started);
    const work = await mkdtemp(join(this.workDir, 'reelroom-render-'));
    const partId = randomUUID();
    const videoTemp = join(
      dirname(request.videoPath),
      `.${basename(request.videoPath)}.${partId}.part`,
    );
    const thumbTemp = join(
      dirname(request.thumbnailPath),
      `.${basename(request.thumbnailPath)}.${partId}.part`,
    );
    try {
      const prepared = await this.prepareScenes(spec, request);
      const { musicPath } = prepared;
      const totalDurationSec = prepared.scenes.reduce((sum, scene) => sum + scene.durationSec, 0);
      if (totalDurationSec > MAX_RENDER_SECONDS) {
        throw new UnrecoverableError(
          `scenes: total duration must be at most ${MAX_RENDER_SECONDS} seconds (is ${totalDurationSec.toFixed(2)})`,
        );
      }
      const estimate = estimateRenderMemory(
        {
          width: spec.width,
          height: spec.height,
          scenes: prepared.scenes.length,
          images: prepared.images.map((image) => ({
            width: image.width,
            height: image.height,
            // A size unknown until decoded: at most what an image may decode to.
            bytesPerPixel: image.pixelFormat
              ? bytesPerPixel(image.pixelFormat)
              : MAX_IMAGE_DECODED_BYTES / (image.width * image.height),
          })),
          audioInputs:
            prepared.scenes.filter((scene) => scene.voiceoverPath).length + (musicPath ? 1 : 0),
          encoderThreads: this.encoderThreads(),
        },
        this.memoryBudgetBytes,
      );
      if (estimate.bytes > this.memoryBudgetBytes) {
        throw new UnrecoverableError(
          `spec: the render needs an estimated ${describeBytes(estimate.bytes)} of memory, over the budget of ${describeBytes(this.memoryBudgetBytes)}`,
        );
      }
      await copyFile(this.fontFile, join(work, FONT_FILE_NAME));
      await mkdir(dirname(request.videoPath), { recursive: true });
      await mkdir(dirname(request.thumbnailPath), { recursive: true });
      // A worker killed mid-render (kill -9) leaves its temporary files; the next attempt of
      // the same render clears them.
      await removeLeftovers(request.videoPath, videoTemp);
      await removeLeftovers(request.thumbnailPath, thumbTemp);

      // Each distinct image is decoded once, in a pass of its own, and kept at the frame size:
      // the video passes never see it at its original size.
      const scaled = new Map<string, string>();
      for (const [k, image] of prepared.images.entries()) {
        const name = `image-${k}.png`;
        await this.run(
          [
            ...['-protocol_whitelist', 'file', '-i', image.path],
            '-vf',
            `scale=${spec.width}:${spec.height}:force_original_aspect_ratio=decrease,` +
              `pad=${spec.width}:${spec.height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1`,
            ...['-frames:v', '1', '-c:v', 'png', '-compression_level', '1', '-f', 'image2', name],
          ],
          { cwd: work, signal, timeoutMs: remainingMs(), onProcess: request.onProcess },
        );
        scaled.set(image.path, name);
      }
      const scenes = prepared.scenes.map((scene) =>
        scene.imagePath ? { ...scene, imagePath: scaled.get(scene.imagePath)! } : scene,
      );
      const planInput = { spec, scenes, ...(musicPath ? { musicPath } : {}) };
      for (const file of sceneTextFiles(planInput)) {
        await writeFile(join(work, file.name), file.content, 'utf8');
      }

      // The video in passes of a few scenes (memory grows with the scenes of a pass), then one
      // pass that joins them without re-encoding and makes the audio.
      const encodeStarted = Date.now();
      let encodedSec = 0;
      const reportEncoding = (seconds: number, fps: number | undefined, share: number) => {
        const done = Math.min(1, seconds / totalDurationSec);
        const elapsed = (Date.now() - encodeStarted) / 1000;
        const speed = elapsed > 0 ? seconds / elapsed : 0;
        report({
          phase: 'encoding',
          progress: done * share,
          ...(fps !== undefined ? { fps } : {}),
          ...(speed > 0 ? { etaSeconds: Math.max(0, (totalDurationSec - seconds) / speed) } : {}),
        });
      };
      const encodeRun = async (indices: number[], output: string[]) => {
        // One FFmpeg for a run of scenes; with several outputs the segment muxer cuts the
        // encode at the scenes' first frames (forced keyframes there), one file per scene.
        const segment = buildSegmentPlan(planInput, indices);
        const before = encodedSec;
        const cuts = sceneStartFrames(planInput, indices).slice(1);
        const split =
          output.length > 1
            ? [
                ...['-force_key_frames', `expr:${cuts.map((n) => `eq(n,${n})`).join('+')}`],
                ...['-f', 'segment', '-segment_format', 'mp4', '-reset_timestamps', '1'],
                ...['-segment_frames', cuts.join(','), `run-${output[0]}-%03d.mp4`],
              ]
            : ['-f', 'mp4', output[0]!];
        await this.run(
          [
            ...inputArgs(segment.inputs),
            ...['-filter_complex', segment.filter, '-map', `[${segment.videoLabel}]`],
            ...this.videoEncoderOptions(spec.fps),
            '-an',
            ...split,
          ],
          {
            cwd: work,
            signal,
            timeoutMs: remainingMs(),
            onProcess: request.onProcess,
            onProgress: (seconds, fps) =>
              reportEncoding(
                before + Math.min(seconds, segment.durationSec),
                fps,
                ENCODE_SHARE * VIDEO_SHARE,
              ),
          },
        );
        if (output.length > 1) {
          for (const [j, name] of output.entries()) {
            await rename(
              join(work, `run-${output[0]}-${String(j).padStart(3, '0')}.mp4`),
              join(work, name),
            );
          }
        }
        encodedSec += segment.durationSec;
      };

      const segmentNames: string[] = [];
      if (!this.segments) {
        // The video in passes of as many scenes as the memory budget allows.
        for (const [k, indices] of segmentScenes(
          scenes.length,
          estimate.scenesPerSegment,
        ).entries()) {
          const name = `segment-${k}.mp4`;
          await encodeRun(indices, [name]);
          segmentNames.push(name);
        }
      } else {
        // One segment per scene, so an edited scene invalidates only its own. Each scene's
        // key is that of the scene encoded alone; runs of consecutive scenes not in the cache
        // are encoded together (one FFmpeg start, not one per scene) and kept one by one.
        const cache = this.segments;
        const keys: string[] = [];
        const missing: number[] = [];
        for (let i = 0; i < scenes.length; i += 1) {
          const name = `segment-${i}.mp4`;
          segmentNames.push(name);
          const alone = buildSegmentPlan(planInput, [i]);
          const key = await cache.key(
            [
              ...inputArgs(alone.inputs),
              ...['-filter_complex', alone.filter],
              ...this.videoEncoderOptions(spec.fps),
            ],
            work,
            [this.ffmpegPath, this.fontFile],
          );
          keys.push(key);
          if (await cache.fetch(key, join(work, name))) {
            encodedSec += alone.durationSec;
            reportEncoding(encodedSec, undefined, ENCODE_SHARE * VIDEO_SHARE);
          } else {
            missing.push(i);
          }
        }
        for (const run of consecutiveRuns(missing, estimate.scenesPerSegment)) {
          await encodeRun(
            run,
            run.map((i) => segmentNames[i]!),
          );
          for (const i of run) await cache.store(keys[i]!, join(work, segmentNames[i]!));
        }
      }
      await writeFile(join(work, SEGMENT_LIST), segmentListFile(segmentNames), 'utf8');
      const mux = buildMuxPlan(planInput, SEGMENT_LIST);
      await this.run(
        [
          ...inputArgs(mux.inputs),
          ...['-filter_complex', mux.filter, '-map', '0:v', '-map', `[${mux.audioLabel}]`],
          ...['-c:v', 'copy', '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2'],
          ...['-movflags', '+faststart', '-f', 'mp4', videoTemp],
        ],
        {
          cwd: work,
          signal,
          timeoutMs: remainingMs(),
          onProcess: request.onProcess,
          onProgress: (seconds) =>
            report({
              phase: 'encoding',
              progress:
                ENCODE_SHARE *
                (VIDEO_SHARE + (1 - VIDEO_SHARE) * Math.min(1, seconds / totalDurationSec)),
            }),
        },
      );

      report({ phase: 'thumbnail', progress: ENCODE_SHARE, etaSeconds: 0 });
      const at = Math.min(1, totalDurationSec / 2);
      await this.run(
        [
          '-protocol_whitelist',
          'file',
          '-ss',
          at.toFixed(3),
          '-i',
          videoTemp,
          '-frames:v',
          '1',
          '-c:v',
          'png',
          '-f',
          'image2',
          thumbTemp,
        ],
        { cwd: work, signal, timeoutMs: remainingMs(), onProcess: request.onProcess },
      );
      throwIfAborted(signal);

      // The thumbnail first: a video at its final name always has its thumbnail.
      await rename(thumbTemp, request.thumbnailPath);
      await rename(videoTemp, request.videoPath);
      const { size } = await stat(request.videoPath);
      report({ phase: 'thumbnail', progress: 1, etaSeconds: 0 });
      return {
        videoPath: request.videoPath,
        thumbnailPath: request.thumbnailPath,
        durationSec: totalDurationSec,
        width: spec.width,
        height: spec.height,
        bytes: size,
      };
    } finally {
      await Promise.all([
        rm(work, { recursive: true, force: true }),
        rm(videoTemp, { force: true }),
        rm(thumbTemp, { force: true }),
      ]);
    }
  }

  /** x264 settings of every video pass; the same in each, so the passes join without re-encoding. */
  private videoEncoderOptions(fps: number): string[] {
    return [
      ...['-c:v', 'libx264', '-preset', this.preset, '-crf', '23', '-pix_fmt', 'yuv420p'],
      ...['-r', String(fps), '-threads', String(this.encoderThreads())],
    ];
  }

  /** The x264 thread count: the option, or the cores up to {@link MAX_AUTO_ENCODER_THREADS}. */
  private encoderThreads(): number {
    return this.threads || Math.min(availableParallelism(), MAX_AUTO_ENCODER_THREADS);
  }

  /**
   * Resolves and probes every asset; scene durations come from voice-overs where unset. Images
   * are checked against the decoded-size caps before anything decodes them.
   */
  private async prepareScenes(
    spec: RenderSpec,
    request: RenderRequest,
  ): Promise<{ scenes: PlannedScene[]; musicPath?: string; images: PreparedImage[] }> {
    interface Probed {
      asset: ResolvedAsset;
      durationSec?: number;
      width?: number;
      height?: number;
      pixelFormat?: string;
    }
    const probed = new Map<string, Promise<Probed>>();
    const load = (assetId: string, kind: ResolvedAsset['kind'], field: string) => {
      let pending = probed.get(assetId);
      if (!pending) {
        pending = (async (): Promise<Probed> => {
          const asset = await request.assets.resolve(request.projectId, assetId);
          if (!asset) throw new UnrecoverableError(`${field}: asset ${assetId} not found`);
          if (asset.kind !== kind) {
            throw new UnrecoverableError(
              `${field}: asset ${assetId} is ${asset.kind}, not ${kind}`,
            );
          }
          const data = await this.probe(asset.path);
          const stream = data.streams.find(
            (s) => s.codec_type === (kind === 'image' ? 'video' : 'audio'),
          );
          if (!stream) {
            throw new UnrecoverableError(`${field}: asset ${assetId} has no ${kind} stream`);
          }
          if (kind === 'image') {
            const pixelFormat = stream.pix_fmt;
            const known = Number(stream.width) > 0 && Number(stream.height) > 0;
            // No size in the header (a damaged file): counted at the cap, FFmpeg says what is wrong.
            const width = known ? Number(stream.width) : MAX_IMAGE_PIXELS;
            const height = known ? Number(stream.height) : 1;
            if (
              known &&
              (width * height > MAX_IMAGE_PIXELS ||
                width * height * bytesPerPixel(pixelFormat) > MAX_IMAGE_DECODED_BYTES)
            ) {
              throw new UnrecoverableError(
                `${field}: asset ${assetId} is ${width}×${height} (${pixelFormat ?? 'unknown format'}); images may decode to at most ${MAX_IMAGE_PIXELS} pixels and ${describeBytes(MAX_IMAGE_DECODED_BYTES)}`,
              );
            }
            return {
              asset,
              width,
              height,
              ...(known && pixelFormat ? { pixelFormat } : {}),
            };
          }
          const duration = Number(stream.duration ?? data.format.duration);
          return { asset, ...(Number.isFinite(duration) ? { durationSec: duration } : {}) };
        })();
        probed.set(assetId, pending);
      }
      return pending;
    };

    const images = new Map<string, PreparedImage>();
    const scenes = await Promise.all(
      spec.scenes.map(async (scene, i): Promise<PlannedScene> => {
        const image =
          scene.background.type === 'image'
            ? await load(scene.background.assetId, 'image', `scenes.${i}.background.assetId`)
            : undefined;
        const voice = scene.voiceoverAssetId
          ? await load(scene.voiceoverAssetId, 'audio', `scenes.${i}.voiceoverAssetId`)
          : undefined;
        const durationSec = scene.durationSec ?? voice?.durationSec;
        if (durationSec === undefined || !(durationSec > 0)) {
          throw new UnrecoverableError(`scenes.${i}.durationSec: voice-over has no known duration`);
        }
        if (durationSec > MAX_SCENE_SECONDS) {
          throw new UnrecoverableError(
            `scenes.${i}.voiceoverAssetId: the voice-over lasts ${durationSec.toFixed(2)} s; a scene lasts at most ${MAX_SCENE_SECONDS} s`,
          );
        }
        if (image) {
          images.set(image.asset.path, {
            path: image.asset.path,
            width: image.width!,
            height: image.height!,
            pixelFormat: image.pixelFormat,
          });
        }
        return {
          durationSec,
          text: scene.text,
          ...(image ? { imagePath: image.asset.path } : {}),
          ...(voice ? { voiceoverPath: voice.asset.path } : {}),
        };
      }),
    );
    const music = spec.musicAssetId
      ? await load(spec.musicAssetId, 'audio', 'musicAssetId')
      : undefined;
    return {
      scenes,
      images: [...images.values()],
      ...(music ? { musicPath: music.asset.path } : {}),
    };
  }

  /**
   * Runs FFmpeg with `args` (inputs, filters, outputs) to its end, killing it on abort or when
   * time runs out. FFmpeg is bound to this process (see `spawnBoundToParent`): a worker that
   * dies takes its encode with it.
   */
  private run(
    args: string[],
    options: {
      cwd: string;
      signal: AbortSignal | undefined;
      timeoutMs: number;
      onProcess: ((pid: number) => void) | undefined;
      onProgress?: (seconds: number, fps: number | undefined) => void;
    },
  ): Promise<void> {
    throwIfAborted(options.signal);
    if (options.timeoutMs <= 0) {
      return Promise.reject(new RenderTimeoutError('render exceeded its wall-clock limit'));
    }
    return new Promise<void>((resolve, reject) => {
      // -nostdin: never reads ours. -xerror: a decoding error ends FFmpeg instead of looping
      // over an undecodable input (`-loop 1` on a corrupt image would otherwise spin until the
      // wall-clock limit). -y: outputs are fresh temporary names.
      const child = spawnBoundToParent(
        this.ffmpegPath,
        ['-nostdin', '-hide_banner', '-xerror', '-y', ...args],
        { cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true },
      );
      let stopped: Error | undefined;
      let settled = false;
      const stop = (error: Error) => {
        if (stopped) return;
        stopped = error;
        child.kill('SIGKILL');
      };
      const onAbort = () =>
        stop(
          new RenderAbortedError(`render aborted: ${String(options.signal?.reason ?? 'abort')}`),
        );
      const timer = setTimeout(
        () => stop(new RenderTimeoutError(`render exceeded its wall-clock limit`)),
        options.timeoutMs,
      );
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (stopped) reject(stopped);
        else if (error) reject(error);
        else resolve();
      };
      // The last lines FFmpeg wrote, for the error; progress lines end in \r, others in \n.
      const lines: string[] = [];
      let partial = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        const parts = (partial + chunk).split(/\r\n|\r|\n/);
        partial = parts.pop() ?? '';
        for (const line of parts) {
          const stats = parseStats(line);
          if (stats) options.onProgress?.(stats.seconds, stats.fps);
          else if (line.trim()) lines.push(line);
        }
        if (lines.length > STDERR_KEPT_LINES) lines.splice(0, lines.length - STDERR_KEPT_LINES);
      });
      child.on('error', (error) => {
        finish(new RenderFailedError('ffmpeg could not start', error.message));
      });
      child.on('close', (code, signal) => {
        if (code === 0) return finish();
        const how = signal
          ? `ffmpeg was killed with signal ${signal}`
          : `ffmpeg exited with code ${code}`;
        finish(new RenderFailedError('ffmpeg failed', tail([...lines, partial, how].join('\n'))));
      });
      if (child.pid !== undefined) options.onProcess?.(child.pid);
    });
  }
}

/** `-i` arguments of plan inputs: each input's options, then the input. */
function inputArgs(inputs: PlanInputFile[]): string[] {
  return inputs.flatMap((input) => [...input.options, '-i', input.path]);
}

/** Deletes `.<name>.<id>.part` files of earlier attempts beside `finalPath`, except `keep`. */
async function removeLeftovers(finalPath: string, keep: string): Promise<void> {
  const prefix = `.${basename(finalPath)}.`;
  const entries = await readdir(dirname(finalPath));
  await Promise.all(
    entries
      .filter((name) => name.startsWith(prefix) && name.endsWith('.part'))
      .map((name) => join(dirname(finalPath), name))
      .filter((path) => path !== keep)
      .map((path) => rm(path, { force: true })),
  );
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new RenderAbortedError(`render aborted: ${String(signal.reason ?? 'abort')}`);
  }
}

/** Reads FFmpeg's stats line (`frame=  50 fps= 25 ... time=00:00:02.00 ...`). */
function parseStats(line: string): { seconds: number; fps: number | undefined } | undefined {
  const time = /time=\s*(-?\d+):(\d+):(\d+(?:\.\d+)?)/.exec(line);
  if (!time) return undefined;
  const seconds = Math.max(0, Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3]));
  const fps = Number(/fps=\s*([\d.]+)/.exec(line)?.[1]);
  return { seconds, fps: fps > 0 ? fps : undefined };
}

/** The last lines of FFmpeg's output, without its noisy progress lines. */
function tail(text: string): string {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('frame=') && !line.startsWith('size='))
    .slice(-STDERR_TAIL_LINES)
    .join(' | ');
}

/** Frame numbers, counted from the first of `indices`, at which each of those scenes starts. */
function sceneStartFrames(
  input: Parameters<typeof buildSegmentPlan>[0],
  indices: number[],
): number[] {
  const starts: number[] = [];
  let frames = 0;
  for (const i of indices) {
    starts.push(frames);
    frames += Math.round(buildSegmentPlan(input, [i]).durationSec * input.spec.fps);
  }
  return starts;
}

/** Splits sorted indices into runs of consecutive ones, each at most `longest` long. */
function consecutiveRuns(indices: number[], longest: number): number[][] {
  const runs: number[][] = [];
  for (const i of indices) {
    const last = runs.at(-1);
    if (last && last.at(-1) === i - 1 && last.length < longest) last.push(i);
    else runs.push([i]);
  }
  return runs;
}
