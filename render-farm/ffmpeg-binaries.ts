import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface FfmpegBinaries {
  ffmpegPath: string;
  ffprobePath: string;
}

export interface ResolveFfmpegOptions {
  /** Explicit FFmpeg binary (FFMPEG_PATH); wins over everything. */
  ffmpegPath?: string;
  /** Explicit FFprobe binary (FFPROBE_PATH). */
  ffprobePath?: string;
  /**
   * Directories searched next, as in PATH (the configuration passes the environment's PATH).
   * Default: none, straight to the npm-shipped build.
   */
  searchPath?: string;
}

const require = createRequire(import.meta.url);

/**
 * Finds FFmpeg and FFprobe: the explicit path, else the binary on the PATH, else the static
 * build shipped by `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe`.
 */
export function resolveFfmpegBinaries(options: ResolveFfmpegOptions = {}): FfmpegBinaries {
  const searchPath = options.searchPath ?? '';
  return {
    ffmpegPath:
      options.ffmpegPath ??
      findOnPath('ffmpeg', searchPath) ??
      installerPath('@ffmpeg-installer/ffmpeg'),
    ffprobePath:
      options.ffprobePath ??
      findOnPath('ffprobe', searchPath) ??
      installerPath('@ffprobe-installer/ffprobe'),
  };
}

/** The first executable `name` in the directories of `searchPath` (a PATH value), or undefined. */
export function findOnPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory; try the next one.
    }
  }
  return undefined;
}

function installerPath(packageName: string): string {
  const installed = require(packageName) as { path: string };
  return installed.path;
}

/** The TTF every render draws its text with (DejaVu Sans from `dejavu-fonts-ttf`). */
export function defaultFontFile(): string {
  return require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
}
