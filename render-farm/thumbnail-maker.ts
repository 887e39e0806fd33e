import { copyFile, mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { hexColorSchema, type SceneBackground } from '../shared/render-spec.ts';
import { ChildRunError, runToCompletion } from './bound-child-process.ts';
import {
  RenderAbortedError,
  RenderFailedError,
  RenderTimeoutError,
  UnrecoverableError,
} from './errors.ts';
import { resolveFfmpegBinaries } from './ffmpeg-binaries.ts';
import { FontMetrics } from './font-metrics.ts';

/** YouTube's thumbnail size. */
export const THUMBNAIL_WIDTH = 1280;
export const THUMBNAIL_HEIGHT = 720;
/** Largest image accepted as a background, per side (8192×8192, the render farm's cap). */
export const MAX_THUMBNAIL_INPUT_SIDE = 8192;
/** Most lines a title is wrapped to; the rest is cut with an ellipsis. */
export const MAX_TITLE_LINES = 3;

/** A flat colour: the render spec's colour background. */
export type ThumbnailColorBackground = Extract<SceneBackground, { type: 'color' }>;

/** Two colours blended across the frame. Default direction `diagonal`. */
export interface ThumbnailGradientBackground {
  type: 'gradient';
  /** `#rrggbb` at the top (or left, or top-left). */
  from: string;
  /** `#rrggbb` at the bottom (or right, or bottom-right). */
  to: string;
  direction?: 'vertical' | 'horizontal' | 'diagonal';
}

/**
 * A PNG, JPEG, WebP or GIF image (the first frame), scaled to cover 1280×720 and
 * center-cropped: a local file (a project asset, a scene background) or bytes in memory
 * (an {@link ImageGenerator}'s output).
 */
export type ThumbnailImageBackground =
  | { type: 'image'; path: string }
  | { type: 'image'; bytes: Uint8Array };

export type ThumbnailBackground =
  | ThumbnailColorBackground
  | ThumbnailGradientBackground
  | ThumbnailImageBackground;

export interface ThumbnailRequest {
  /**
   * Drawn large over a dark band: wrapped to at most {@link MAX_TITLE_LINES} lines, shrunk for
   * long titles, cut with `…` past that. Line breaks and control characters count as spaces.
   * Any text is safe: it reaches FFmpeg only through a file. Empty: the background alone.
   */
  title: string;
  background: ThumbnailBackground;
  /** The PNG's final path; written as `<outputPath>.part` first, then renamed. */
  outputPath: string;
  /** Aborting kills FFmpeg and rejects with {@link RenderAbortedError}. */
  signal?: AbortSignal;
}

export interface ThumbnailResult {
  path: string;
  width: number;
  height: number;
  /** Size of the PNG file. */
  bytes: number;
}

export interface ThumbnailMakerOptions {
  /** FFmpeg binary. Default: as {@link resolveFfmpegBinaries} finds it (npm-shipped build). */
  ffmpegPath?: string;
  /** FFprobe binary, to read an image's size before FFmpeg decodes it. Default: as above. */
  ffprobePath?: string;
  /** TTF for the title. Default: DejaVu Sans Bold from `dejavu-fonts-ttf` (never a system font). */
  fontFile?: string;
  /** Wall-clock limit of each FFmpeg and FFprobe run; the process is killed. Default 60 s. */
  timeoutMs?: number;
  /** Where per-thumbnail work directories are made. Default: the OS temp directory. */
  workDir?: string;
  /**
   * Widest and tallest background image accepted, in pixels; larger ones are refused before
   * decoding (and FFmpeg's decoder is capped at its square). Default
   * {@link MAX_THUMBNAIL_INPUT_SIDE}: a decoded 8192×8192 frame is 256 MB.
   */
  maxInputSide?: number;
}

const require = createRequire(import.meta.url);
const FONT_FILE_NAME = 'font.ttf';
const IMAGE_FILE_NAME = 'background';
const STDERR_LIMIT = 16 * 1024;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Image formats accepted as backgrounds, by magic bytes, and the FFmpeg demuxer forced for each. */
const IMAGE_FORMATS: Array<{ demuxer: string; matches: (head: Buffer) => boolean }> = [
  { demuxer: 'png_pipe', matches: (h) => h.subarray(0, 8).equals(PNG_SIGNATURE) },
  { demuxer: 'jpeg_pipe', matches: (h) => h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff },
  {
    demuxer: 'webp_pipe',
    matches: (h) => h.toString('latin1', 0, 4) === 'RIFF' && h.toString('latin1', 8, 12) === 'WEBP',
  },
  { demuxer: 'gif', matches: (h) => /^GIF8[79]a$/.test(h.toString('latin1', 0, 6)) },
];

/**
 * Makes a video's 1280×720 PNG thumbnail with FFmpeg: a background (colour, gradient or an
 * image scaled to cover and center-cropped) with the title drawn large over a dark band.
 *
 * Safe with any title and any uploaded image: the title reaches FFmpeg only through a text
 * file (`drawtext=textfile=...:expansion=none`), the filtergraph holds only numbers, validated
 * colours and fixed file names of a private work directory; images are recognised by their
 * magic bytes and read with that format's demuxer forced and only the `file` protocol, and
 * their size is probed and capped before they are decoded (once: one frame).
 *
 * With an {@link ImageGenerator}, generate the background first and pass its bytes:
 * `make({title, background: {type: 'image', bytes: image.bytes}, outputPath})`, recording
 * `image.usage` for costs.
 */
export class ThumbnailMaker {
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  readonly #fontFile: string;
  readonly #timeoutMs: number;
  readonly #workDir: string;
  readonly #maxInputSide: number;
  #metrics: FontMetrics | undefined;

  constructor(options: ThumbnailMakerOptions = {}) {
    const binaries = resolveFfmpegBinaries({
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffprobePath ? { ffprobePath: options.ffprobePath } : {}),
    });
    this.ffmpegPath = binaries.ffmpegPath;
    this.ffprobePath = binaries.ffprobePath;
    this.#fontFile =
      options.fontFile ?? require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf');
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#workDir = options.workDir ?? tmpdir();
    this.#maxInputSide = options.maxInputSide ?? MAX_THUMBNAIL_INPUT_SIDE;
    if (!(this.#timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    if (!Number.isInteger(this.#maxInputSide) || this.#maxInputSide < 1) {
      throw new RangeError('maxInputSide must be a positive integer');
    }
  }

  /** Makes one thumbnail. See {@link ThumbnailRequest}. */
  async make(request: ThumbnailRequest): Promise<ThumbnailResult> {
    const { signal } = request;
    throwIfAborted(signal);
    const background = checkBackground(request.background);
    this.#metrics ??= FontMetrics.load(this.#fontFile);
    const title = layoutTitle(request.title, this.#metrics);

    const outputPath = resolve(request.outputPath);
    const partPath = `${outputPath}.part`;
    const work = await mkdtemp(join(this.#workDir, 'reelroom-thumbnail-'));
    try {
      const inputs: string[] = [];
      let base: string;
      if (background.type === 'image') {
        const imagePath =
          'bytes' in background ? join(work, IMAGE_FILE_NAME) : resolve(background.path);
        if ('bytes' in background) await writeFile(imagePath, background.bytes);
        const demuxer = await this.#checkImage(imagePath, signal);
        inputs.push(
          ...['-f', demuxer, '-protocol_whitelist', 'file'],
          // A second cap inside the decoder, should a file declare one size and hold another.
          ...['-max_pixels', String(this.#maxInputSide ** 2)],
          ...['-i', `file:${imagePath}`],
        );
        // Over black, so transparent images do not show whatever colour their clear pixels hold.
        base =
          `color=c=black:s=${THUMBNAIL_WIDTH}x${THUMBNAIL_HEIGHT}:d=1[base];` +
          `[0:v]scale=${THUMBNAIL_WIDTH}:${THUMBNAIL_HEIGHT}:force_original_aspect_ratio=increase:flags=lanczos,` +
          `crop=${THUMBNAIL_WIDTH}:${THUMBNAIL_HEIGHT},setsar=1[image];` +
          '[base][image]overlay=shortest=1,format=rgb24';
      } else {
        base = `${backgroundSource(background)},format=rgb24`;
      }

      const filters = [base];
      if (title) {
        await copyFile(this.#fontFile, join(work, FONT_FILE_NAME));
        for (const [i, line] of title.lines.entries()) {
          await writeFile(join(work, `title-${i}.txt`), line.text, 'utf8');
        }
        filters.push(...titleFilters(title));
      }

      await mkdir(dirname(outputPath), { recursive: true });
      await this.#run(
        'ffmpeg',
        this.ffmpegPath,
        [
          ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-xerror', '-y'],
          ...inputs,
          ...['-filter_complex', filters.join(',')],
          ...['-frames:v', '1', '-c:v', 'png', '-f', 'image2', '-update', '1'],
          `file:${partPath}`,
        ],
        { cwd: work, signal },
      );
      throwIfAborted(signal);
      await rename(partPath, outputPath);
      const { size } = await stat(outputPath);
      return { path: outputPath, width: THUMBNAIL_WIDTH, height: THUMBNAIL_HEIGHT, bytes: size };
    } finally {
      await Promise.all([
        rm(work, { recursive: true, force: true }),
        rm(partPath, { force: true }),
      ]);
    }
  }

  /** The demuxer to read `path` with; refuses what is not an image or is too large. */
  async #checkImage(path: string, signal: AbortSignal | undefined): Promise<string> {
    const head = Buffer.alloc(16);
    const file = await open(path, 'r');
    try {
      await file.read(head, 0, head.length, 0);
    } finally {
      await file.close();
    }
    const format = IMAGE_FORMATS.find((candidate) => candidate.matches(head));
    if (!format) {
      throw new UnrecoverableError('background: not a PNG, JPEG, WebP or GIF image');
    }
    const cap = `${this.#maxInputSide}×${this.#maxInputSide}`;
    let stdout: string;
    try {
      // FFprobe decodes the first frame to report a size; -max_pixels keeps a file that declares
      // a huge size from making it allocate that frame (it then reports no size).
      stdout = await this.#run(
        'ffprobe',
        this.ffprobePath,
        [
          ...['-v', 'error', '-protocol_whitelist', 'file', '-f', format.demuxer],
          ...['-max_pixels', String(this.#maxInputSide ** 2)],
          ...['-select_streams', 'v:0', '-show_entries', 'stream=width,height'],
          ...['-of', 'json', `file:${path}`],
        ],
        { cwd: dirname(path), signal },
      );
    } catch (error) {
      // FFprobe exiting with an error on a file that looks like an image: a broken upload.
      if (error instanceof RenderFailedError) {
        throw new UnrecoverableError(`background: unreadable image (${error.stderrTail})`);
      }
      throw error;
    }
    const stream = (JSON.parse(stdout) as { streams?: Array<{ width?: number; height?: number }> })
      .streams?.[0];
    const width = stream?.width ?? 0;
    const height = stream?.height ?? 0;
    if (!(width > 0 && height > 0)) {
      throw new UnrecoverableError(
        `background: the image has no size readable within ${cap} (larger, or broken)`,
      );
    }
    if (width > this.#maxInputSide || height > this.#maxInputSide) {
      throw new UnrecoverableError(
        `background: the image is ${width}×${height}; at most ${cap} is accepted`,
      );
    }
    return format.demuxer;
  }

  /** Runs a binary to its end, bound to this process; resolves its stdout. */
  async #run(
    label: 'ffmpeg' | 'ffprobe',
    binary: string,
    args: string[],
    options: { cwd: string; signal: AbortSignal | undefined },
  ): Promise<string> {
    throwIfAborted(options.signal);
    try {
      const { stdout } = await runToCompletion(binary, args, {
        cwd: options.cwd,
        signal: options.signal,
        timeoutMs: this.#timeoutMs,
        stderrLimit: STDERR_LIMIT,
      });
      return stdout.toString('utf8');
    } catch (error) {
      if (!(error instanceof ChildRunError)) throw error;
      if (error.kind === 'aborted') throw new RenderAbortedError(`thumbnail ${error.message}`);
      if (error.kind === 'timeout') {
        throw new RenderTimeoutError('thumbnail exceeded its wall-clock limit');
      }
      throw new RenderFailedError(`${label}: ${error.message}`, tail(error.stderr));
    }
  }
}

/**
 * Makes one thumbnail with a {@link ThumbnailMaker} of default (or the given) options.
 * Prefer one long-lived maker where many are made: it reads the font's metrics once.
 */
export function makeThumbnail(
  request: ThumbnailRequest,
  options: ThumbnailMakerOptions = {},
): Promise<ThumbnailResult> {
  return new ThumbnailMaker(options).make(request);
}

/** One laid-out title line: its text and where its baseline sits. */
interface TitleLine {
  text: string;
  baselineY: number;
}

/** A title laid out on the frame: lines, font size and the dark band behind them. */
export interface TitleLayout {
  lines: TitleLine[];
  fontSize: number;
  bandY: number;
  bandHeight: number;
}

const MAX_FONT_SIZE = 132;
const MIN_FONT_SIZE = 56;
const MARGIN_X = 72;
const LINE_ADVANCE = 1.18;
const ELLIPSIS = '…';

/**
 * Wraps and sizes a title to fit {@link MAX_TITLE_LINES} lines inside the frame's margins:
 * the largest font size (132 px down to 56 px) at which it fits, else the smallest size with
 * the third line cut and ended with `…`. Null for a title with nothing to draw.
 */
export function layoutTitle(raw: string, metrics: FontMetrics): TitleLayout | null {
  const words = cleanTitle(raw).split(' ').filter(Boolean);
  if (words.length === 0) return null;
  const maxWidth = THUMBNAIL_WIDTH - 2 * MARGIN_X;
  let fontSize = MAX_FONT_SIZE;
  let lines = wrapWords(words, (text) => metrics.width(text, fontSize) <= maxWidth);
  while (lines.length > MAX_TITLE_LINES && fontSize > MIN_FONT_SIZE) {
    fontSize = Math.max(MIN_FONT_SIZE, fontSize - 4);
    lines = wrapWords(words, (text) => metrics.width(text, fontSize) <= maxWidth);
  }
  if (lines.length > MAX_TITLE_LINES) {
    const kept = lines.slice(0, MAX_TITLE_LINES);
    let last = `${kept[MAX_TITLE_LINES - 1]} ${lines[MAX_TITLE_LINES]}`;
    while (last && metrics.width(`${last}${ELLIPSIS}`, fontSize) > maxWidth) {
      last = Array.from(last).slice(0, -1).join('');
    }
    kept[MAX_TITLE_LINES - 1] = `${last.trimEnd()}${ELLIPSIS}`;
    lines = kept;
  }

  const advance = Math.round(fontSize * LINE_ADVANCE);
  const padding = Math.round(fontSize * 0.35);
  const textHeight =
    (lines.length - 1) * advance + Math.ceil((metrics.ascent + metrics.descent) * fontSize);
  const bandHeight = Math.min(THUMBNAIL_HEIGHT, textHeight + 2 * padding);
  const bandY = Math.round((THUMBNAIL_HEIGHT - bandHeight) / 2);
  const firstBaseline = bandY + padding + Math.round(metrics.ascent * fontSize);
  return {
    fontSize,
    bandY,
    bandHeight,
    lines: lines.map((text, i) => ({ text, baselineY: firstBaseline + i * advance })),
  };
}

/** One line of words, control characters and line breaks as spaces, well-formed Unicode. */
function cleanTitle(raw: string): string {
  return (
    // Through UTF-8 and back: a lone surrogate becomes U+FFFD, as it would in the text file.
    Buffer.from(raw, 'utf8')
      .toString('utf8')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
  );
}

/** Greedy wrap; a word too long for a line of its own is broken between characters. */
function wrapWords(words: string[], fits: (text: string) => boolean): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const candidate = line ? `${line} ${word}` : word;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    line = '';
    for (const char of word) {
      if (line && !fits(line + char)) {
        lines.push(line);
        line = '';
      }
      line += char;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The band and one drawtext per line (each centred; drawtext would left-align a block). */
function titleFilters(title: TitleLayout): string[] {
  const { fontSize } = title;
  const filters = [
    `drawbox=x=0:y=${title.bandY}:w=${THUMBNAIL_WIDTH}:h=${title.bandHeight}:color=black@0.55:t=fill`,
  ];
  const border = Math.max(2, Math.round(fontSize / 22));
  const shadow = Math.max(2, Math.round(fontSize / 20));
  title.lines.forEach((line, i) => {
    filters.push(
      'drawtext=' +
        [
          `fontfile=${FONT_FILE_NAME}`,
          `textfile=title-${i}.txt`,
          'expansion=none',
          'fontcolor=white',
          `fontsize=${fontSize}`,
          'x=(w-text_w)/2',
          // `ascent` is the line's tallest glyph above its baseline: this puts every baseline
          // where the layout wants it, whatever letters a line has.
          `y=${line.baselineY}-ascent`,
          `borderw=${border}`,
          'bordercolor=black@0.7',
          `shadowx=${shadow}`,
          `shadowy=${shadow}`,
          'shadowcolor=black@0.5',
        ].join(':'),
    );
  });
  return filters;
}

/** The filter source of a colour or gradient background; only validated hex digits in it. */
function backgroundSource(
  background: ThumbnailColorBackground | ThumbnailGradientBackground,
): string {
  const size = `s=${THUMBNAIL_WIDTH}x${THUMBNAIL_HEIGHT}:d=1`;
  if (background.type === 'color') return `color=c=0x${background.color.slice(1)}:${size}`;
  const [from, to] = [rgb(background.from), rgb(background.to)];
  const share = {
    vertical: 'Y/H',
    horizontal: 'X/W',
    diagonal: '(X/W+Y/H)/2',
  }[background.direction ?? 'diagonal'];
  const channel = (i: 0 | 1 | 2) => `'${from[i]}+(${to[i] - from[i]})*${share}'`;
  return `color=c=black:${size},format=rgb24,geq=r=${channel(0)}:g=${channel(1)}:b=${channel(2)}`;
}

function rgb(color: string): [number, number, number] {
  const value = Number.parseInt(color.slice(1), 16);
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

/** Validates colours and directions; throws {@link UnrecoverableError} naming the field. */
function checkBackground(background: ThumbnailBackground): ThumbnailBackground {
  const color = (field: string, value: unknown) => {
    if (!hexColorSchema.safeParse(value).success) {
      throw new UnrecoverableError(`background.${field}: must be a colour as #rrggbb`);
    }
  };
  switch (background.type) {
    case 'color':
      color('color', background.color);
      return background;
    case 'gradient':
      color('from', background.from);
      color('to', background.to);
      if (
        background.direction !== undefined &&
        !['vertical', 'horizontal', 'diagonal'].includes(background.direction)
      ) {
        throw new UnrecoverableError(
          'background.direction: must be vertical, horizontal or diagonal',
        );
      }
      return background;
    case 'image':
      if ('bytes' in background ? !(background.bytes instanceof Uint8Array) : !background.path) {
        throw new UnrecoverableError('background: an image needs a path or bytes');
      }
      return background;
    default:
      throw new UnrecoverableError(
        "background: must be {type: 'color' | 'gradient' | 'image', ...}",
      );
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new RenderAbortedError(`thumbnail aborted: ${String(signal.reason ?? 'abort')}`);
  }
}

function tail(text: string): string {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-8)
    .join(' | ');
}
