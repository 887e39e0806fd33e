import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { AssetResolver, ResolvedAsset } from '../../render-farm/index.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** The npm-shipped binaries, used by the tests as an independent check of what we render. */
export const FFMPEG_BIN = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const FFPROBE_BIN = (require('@ffprobe-installer/ffprobe') as { path: string }).path;

/** Makes a PNG test image. */
export async function makeImage(path: string, size = '400x300'): Promise<string> {
  await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
    ...['-i', `testsrc=size=${size}:rate=1`, '-frames:v', '1', path],
  ]);
  return path;
}

/** Makes a WAV tone of `seconds`. */
export async function makeTone(path: string, seconds: number, frequency = 440): Promise<string> {
  await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
    ...['-i', `sine=frequency=${frequency}:sample_rate=44100:duration=${seconds}`, path],
  ]);
  return path;
}

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  sample_rate?: string;
}

export interface Probed {
  format: { duration: string; format_name: string };
  streams: ProbedStream[];
}

/** ffprobe's JSON for a file. */
export async function probe(path: string): Promise<Probed> {
  const { stdout } = await run(FFPROBE_BIN, [
    ...['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path],
  ]);
  return JSON.parse(stdout) as Probed;
}

/** Checks an MP4 the way the issue asks: duration, size, codecs, an audio stream, faststart. */
export async function describeMp4(path: string) {
  const data = await probe(path);
  const video = data.streams.find((s) => s.codec_type === 'video');
  const audio = data.streams.find((s) => s.codec_type === 'audio');
  const bytes = await readFile(path);
  return {
    durationSec: Number(data.format.duration),
    video: video && {
      codec: video.codec_name,
      width: video.width,
      height: video.height,
      pixFmt: video.pix_fmt,
      frameRate: video.r_frame_rate,
    },
    audio: audio && { codec: audio.codec_name, sampleRate: audio.sample_rate },
    /** +faststart puts the index (moov) before the media data (mdat). */
    faststart: bytes.indexOf('moov') >= 0 && bytes.indexOf('moov') < bytes.indexOf('mdat'),
  };
}

/** Width and height from a PNG's header. */
export async function pngSize(path: string): Promise<{ width: number; height: number }> {
  const bytes = await readFile(path);
  if (bytes.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error(`${path} is not a PNG`);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** Test data: assets known by id, as the server's resolver would find them in its table. */
export class FixedAssets implements AssetResolver {
  private readonly assets = new Map<string, ResolvedAsset & { projectId: string }>();

  add(projectId: string, asset: ResolvedAsset): string {
    this.assets.set(asset.id, { ...asset, projectId });
    return asset.id;
  }

  async resolve(projectId: string, assetId: string): Promise<ResolvedAsset | null> {
    const asset = this.assets.get(assetId);
    return asset && asset.projectId === projectId ? asset : null;
  }
}

/** Whether a process is still alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
