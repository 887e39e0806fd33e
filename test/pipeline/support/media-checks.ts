import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolveFfmpegBinaries } from '../../../render-farm/ffmpeg-binaries.ts';

// Independent probes of what the pipeline made (FFmpeg's own tools, not our code), and the
// bounded wait the pipeline tests poll runs with.

const run = promisify(execFile);
const { ffmpegPath, ffprobePath } = resolveFfmpegBinaries();

/** ffprobe's view of a file: its duration and each stream's codec, type and size. */
export async function probeFile(path: string) {
  const { stdout } = await run(ffprobePath, [
    ...['-v', 'error'],
    ...['-show_entries', 'format=duration:stream=codec_name,codec_type,width,height'],
    ...['-of', 'json', path],
  ]);
  return JSON.parse(stdout) as {
    format: { duration?: string };
    streams: Array<{ codec_name: string; codec_type: string; width?: number; height?: number }>;
  };
}

/** FFmpeg's `volumedetect` mean volume in dB (silence is about -91). */
export async function meanVolume(path: string): Promise<number> {
  const { stderr } = await run(ffmpegPath, [
    ...['-hide_banner', '-nostats', '-i', path, '-af', 'volumedetect', '-f', 'null', '-'],
  ]);
  return Number(/mean_volume:\s*(-?[\d.]+) dB/.exec(stderr)?.[1] ?? Number.NaN);
}

/**
 * Polls `check` until it returns something other than undefined, for at most `ms`; throws
 * naming `what` when the time is up.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 120_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
