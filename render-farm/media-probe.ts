import ffmpeg, { type FfprobeData } from 'fluent-ffmpeg';

/** What FFprobe found in a media file. */
export interface ProbedMedia {
  /** Container format names, e.g. `png_pipe`, `wav`, `mp3`. */
  formatName: string;
  durationSec: number | null;
  /** Of the first video (or image) stream, when there is one that decodes to a size. */
  width: number | null;
  height: number | null;
  /** Pixel format the first video (or image) stream decodes to, e.g. `rgb24`, `rgba64be`. */
  pixelFormat: string | null;
  hasAudio: boolean;
}

/** Runs FFprobe on a local file, allowing only the `file` protocol. Rejects when it fails. */
export function probeFile(ffprobePath: string, path: string): Promise<FfprobeData> {
  return new Promise((resolve, reject) => {
    ffmpeg(path)
      .setFfprobePath(ffprobePath)
      .ffprobe(['-protocol_whitelist', 'file'], (error: Error | null, data: FfprobeData) => {
        if (error) reject(error);
        else resolve(data);
      });
  });
}

/** {@link probeFile}, summarised. */
export async function probeMedia(ffprobePath: string, path: string): Promise<ProbedMedia> {
  const data = await probeFile(ffprobePath, path);
  const video = data.streams.find((stream) => stream.codec_type === 'video');
  const audio = data.streams.find((stream) => stream.codec_type === 'audio');
  const duration = Number(audio?.duration ?? data.format.duration);
  const positive = (value: number | undefined) => (value && value > 0 ? value : null);
  return {
    formatName: data.format.format_name ?? '',
    durationSec: Number.isFinite(duration) && duration > 0 ? duration : null,
    width: positive(video?.width),
    height: positive(video?.height),
    pixelFormat: video?.pix_fmt ?? null,
    hasAudio: audio !== undefined,
  };
}
