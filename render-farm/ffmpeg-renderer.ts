import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import ffmpeg, { type FfprobeData } from 'fluent-ffmpeg';
import {
  describeRenderSpecError,
  MAX_RENDER_SECONDS,
  MAX_SCENE_SECONDS,
  type RenderSpec,
  renderSpecSchema,
} from '../shared/render-spec.ts';
import type { AssetResolver, ResolvedAsset } from './asset-resolver.ts';
import {
  RenderAbortedError,
  RenderFailedError,
  RenderTimeoutError,
  UnrecoverableError,
} from './errors.ts';
import { defaultFontFile, resolveFfmpegBinaries } from './ffmpeg-binaries.ts';
import { buildRenderPlan, FONT_FILE_NAME, type PlannedScene } from './render-plan.ts';

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
  /** FFmpeg threads per render; 0 lets FFmpeg decide. Default 0. */
  threads?: number;
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
const STDERR_TAIL_LINES = 8;

/**
 * Renders a {@link RenderSpec} into an H.264/AAC MP4 (yuv420p, faststart) and a PNG thumbnail
 * with FFmpeg through fluent-ffmpeg. Inputs are probed first; only the `file` protocol is
 * allowed; scene text reaches FFmpeg only through files; a wall-clock limit kills FFmpeg.
 */
export class FfmpegRenderer {
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  private readonly fontFile: string;
  private readonly timeoutMs: number;
  private readonly workDir: string;
  private readonly preset: string;
  private readonly threads: number;

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
      const { scenes, musicPath } = await this.prepareScenes(spec, request);
      const plan = buildRenderPlan({ spec, scenes, ...(musicPath ? { musicPath } : {}) });
      if (plan.totalDurationSec > MAX_RENDER_SECONDS) {
        throw new UnrecoverableError(
          `scenes: total duration must be at most ${MAX_RENDER_SECONDS} seconds (is ${plan.totalDurationSec.toFixed(2)})`,
        );
      }
      await copyFile(this.fontFile, join(work, FONT_FILE_NAME));
      for (const file of plan.files) await writeFile(join(work, file.name), file.content, 'utf8');
      await mkdir(dirname(request.videoPath), { recursive: true });
      await mkdir(dirname(request.thumbnailPath), { recursive: true });
      // A worker killed mid-render (kill -9) leaves its temporary files; the next attempt of
      // the same render clears them.
      await removeLeftovers(request.videoPath, videoTemp);
      await removeLeftovers(request.thumbnailPath, thumbTemp);

      const encodeStarted = Date.now();
      await this.run(
        (command) => {
          for (const input of plan.inputs) command.input(input.path).inputOptions(input.options);
          command
            .complexFilter(plan.filter)
            .outputOptions([
              '-map',
              `[${plan.videoLabel}]`,
              '-map',
              `[${plan.audioLabel}]`,
              '-c:v',
              'libx264',
              '-preset',
              this.preset,
              '-crf',
              '23',
              '-pix_fmt',
              'yuv420p',
              '-r',
              String(spec.fps),
              '-c:a',
              'aac',
              '-b:a',
              '128k',
              '-ar',
              '48000',
              '-ac',
              '2',
              '-movflags',
              '+faststart',
              '-threads',
              String(this.threads),
              '-f',
              'mp4',
            ])
            .output(videoTemp);
        },
        {
          cwd: work,
          signal,
          timeoutMs: remainingMs(),
          onProcess: request.onProcess,
          onProgress: (seconds, fps) => {
            const done = Math.min(1, seconds / plan.totalDurationSec);
            const elapsed = (Date.now() - encodeStarted) / 1000;
            const speed = elapsed > 0 ? seconds / elapsed : 0;
            report({
              phase: 'encoding',
              progress: done * ENCODE_SHARE,
              ...(fps !== undefined ? { fps } : {}),
              ...(speed > 0
                ? { etaSeconds: Math.max(0, (plan.totalDurationSec - seconds) / speed) }
                : {}),
            });
          },
        },
      );

      report({ phase: 'thumbnail', progress: ENCODE_SHARE, etaSeconds: 0 });
      const at = Math.min(1, plan.totalDurationSec / 2);
      await this.run(
        (command) => {
          command
            .input(videoTemp)
            .inputOptions(['-protocol_whitelist', 'file', '-ss', at.toFixed(3)])
            .outputOptions(['-frames:v', '1', '-c:v', 'png', '-f', 'image2'])
            .output(thumbTemp);
        },
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
        durationSec: plan.totalDurationSec,
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

  /** Resolves and probes every asset; scene durations come from voice-overs where unset. */
  private async prepareScenes(
    spec: RenderSpec,
    request: RenderRequest,
  ): Promise<{ scenes: PlannedScene[]; musicPath?: string }> {
    const probed = new Map<string, Promise<{ asset: ResolvedAsset; durationSec?: number }>>();
    const load = (assetId: string, kind: ResolvedAsset['kind'], field: string) => {
      let pending = probed.get(assetId);
      if (!pending) {
        pending = (async () => {
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
          const duration = Number(stream.duration ?? data.format.duration);
          return { asset, ...(Number.isFinite(duration) ? { durationSec: duration } : {}) };
        })();
        probed.set(assetId, pending);
      }
      return pending;
    };

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
    return { scenes, ...(music ? { musicPath: music.asset.path } : {}) };
  }

  /** Runs one FFmpeg command to its end, killing it on abort or when time runs out. */
  private run(
    build: (command: ffmpeg.FfmpegCommand) => void,
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
      const command = ffmpeg({ cwd: options.cwd }).setFfmpegPath(this.ffmpegPath);
      // -xerror: a decoding error ends FFmpeg instead of looping over an undecodable input
      // (`-loop 1` on a corrupt image would otherwise spin until the wall-clock limit).
      command.addOption('-nostdin').addOption('-hide_banner').addOption('-xerror');
      build(command);
      let stopped: Error | undefined;
      const stop = (error: Error) => {
        if (stopped) return;
        stopped = error;
        command.kill('SIGKILL');
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
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (stopped) reject(stopped);
        else if (error) reject(error);
        else resolve();
      };
      command
        .on('start', () => {
          const pid = (command as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid;
          if (pid !== undefined) options.onProcess?.(pid);
        })
        // Not fluent-ffmpeg's 'progress' event: it probes the first input (without the protocol
        // whitelist) to compute percentages we compute better from the known duration.
        .on('stderr', (line: string) => {
          const stats = parseStats(line);
          if (stats) options.onProgress?.(stats.seconds, stats.fps);
        })
        .on('end', () => finish())
        .on('error', (error: Error, _stdout: string | null, stderr: string | null) =>
          finish(new RenderFailedError('ffmpeg failed', tail(stderr || error.message))),
        );
      command.run();
    });
  }
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
