const MiB = 1024 * 1024;

/**
 * Memory a render may need, in bytes, unless the renderer or the render service is given
 * another budget. 512 MiB leaves room for two renders and the API on a 2 GiB node, and every
 * valid spec fits it: the video passes shrink to fit (see {@link estimateRenderMemory}) and an
 * 8192×8192 background is estimated near 320 MiB.
 */
export const DEFAULT_RENDER_MEMORY_BUDGET_BYTES = 512 * MiB;

/** Most scenes one FFmpeg video pass renders, however small the frame. */
export const MAX_SCENES_PER_SEGMENT = 20;

/**
 * x264 threads a render uses when left to choose: the cores, at most this many. Each encoder
 * thread holds frames of its own (about 12 bytes per pixel each at `veryfast`), so an unbounded
 * count would make a render's memory depend on the machine it lands on.
 */
export const MAX_AUTO_ENCODER_THREADS = 4;

/**
 * Bytes one decoded pixel may take: RGBA with 16 bits per channel (a 16-bit PNG), the largest
 * format PNG and JPEG decode to. Used when an image's pixel format is not known.
 */
export const MAX_DECODED_BYTES_PER_PIXEL = 8;

// Measured with the npm-shipped FFmpeg at 1080p (peak RSS of the process, VmHWM) and rounded
// up; per-pixel figures are per pixel of the output frame.
/** FFmpeg itself: the binary, codecs, filter graph (measured 20-40 MiB). */
const BASE_BYTES = 48 * MiB;
/** x264 at `veryfast`, per pixel: 80 plus 12 per thread (measured 76 at 1 thread, 236 at 16). */
const ENCODER_BYTES_PER_PIXEL = 80;
const ENCODER_BYTES_PER_PIXEL_PER_THREAD = 12;
/**
 * A scene of a video pass, per pixel: FFmpeg pulls a first frame through every scene's chain
 * when the pass starts and holds it, with the copy drawtext draws on, until the scene's turn
 * (measured 5 to 7: 200 scenes of 1080p in one pass held 2 GiB).
 */
const SCENE_BYTES_PER_PIXEL = 8;
/** An image input of a video pass (its frame-size copy decoded, scaled, shared; measured 3). */
const IMAGE_INPUT_BYTES_PER_PIXEL = 4;
/** The pass that scales one image to the frame, besides the decoded image (measured under 4). */
const PRESCALE_BYTES_PER_PIXEL = 8;
/** An audio input of the last pass: demuxer, decoder, resampler (measured 0.5 MiB). */
const AUDIO_INPUT_BYTES = 2 * MiB;

/** An image of a render as the estimate sees it. */
export interface RenderMemoryImage {
  width: number;
  height: number;
  /** Bytes per decoded pixel; default {@link MAX_DECODED_BYTES_PER_PIXEL} (the worst case). */
  bytesPerPixel?: number;
}

export interface RenderMemoryInput {
  width: number;
  height: number;
  scenes: number;
  /** Each distinct image once, however many scenes use it. */
  images: RenderMemoryImage[];
  /** Voice-overs and music: the inputs of the last pass. */
  audioInputs: number;
  /** x264 threads of the render. Default {@link MAX_AUTO_ENCODER_THREADS}. */
  encoderThreads?: number;
}

/** The estimate; `bytes` is the largest pass (the passes run one after the other). */
export interface RenderMemoryEstimate {
  bytes: number;
  /** Scenes per video pass: as many as fit the budget, 1 to {@link MAX_SCENES_PER_SEGMENT}. */
  scenesPerSegment: number;
  /** Scaling the largest image to the frame (0 without images). */
  prescaleBytes: number;
  /** One video pass of `scenesPerSegment` scenes. */
  segmentBytes: number;
  /** Joining the passes and making the audio. */
  muxBytes: number;
}

/**
 * Estimates the peak memory of a render as {@link FfmpegRenderer} runs it, and sizes its video
 * passes to fit `budgetBytes`:
 *
 * - each distinct image is decoded once, in a pass of its own that scales it to the frame: its
 *   decoded size (width × height × bytes per pixel) counts once, however many scenes use it;
 * - the video is made in passes of a few consecutive scenes, joined without re-encoding; a pass
 *   holds x264's frames and a few frames per scene and per image, so it gets as many scenes as
 *   fit the budget (at least one, at most {@link MAX_SCENES_PER_SEGMENT});
 * - the last pass copies the video and makes the audio from every voice-over and the music.
 *
 * Pessimistic by design (measured figures rounded up): it refuses a spec before anything is
 * charged or queued, so it must not be below what FFmpeg really takes.
 */
export function estimateRenderMemory(
  input: RenderMemoryInput,
  budgetBytes: number,
): RenderMemoryEstimate {
  const pixels = input.width * input.height;
  const threads = Math.max(1, input.encoderThreads ?? MAX_AUTO_ENCODER_THREADS);
  const segmentBytesFor = (scenes: number) =>
    BASE_BYTES +
    (ENCODER_BYTES_PER_PIXEL + ENCODER_BYTES_PER_PIXEL_PER_THREAD * threads) * pixels +
    scenes * SCENE_BYTES_PER_PIXEL * pixels +
    Math.min(scenes, input.images.length) * IMAGE_INPUT_BYTES_PER_PIXEL * pixels;

  let scenesPerSegment = 1;
  const most = Math.min(MAX_SCENES_PER_SEGMENT, Math.max(1, input.scenes));
  while (scenesPerSegment < most && segmentBytesFor(scenesPerSegment + 1) <= budgetBytes) {
    scenesPerSegment += 1;
  }

  let largestImage = 0;
  for (const image of input.images) {
    const perPixel = image.bytesPerPixel ?? MAX_DECODED_BYTES_PER_PIXEL;
    largestImage = Math.max(largestImage, image.width * image.height * perPixel);
  }
  const prescaleBytes =
    input.images.length > 0 ? BASE_BYTES + largestImage + PRESCALE_BYTES_PER_PIXEL * pixels : 0;
  const segmentBytes = segmentBytesFor(scenesPerSegment);
  const muxBytes = BASE_BYTES + input.audioInputs * AUDIO_INPUT_BYTES;
  return {
    bytes: Math.max(prescaleBytes, segmentBytes, muxBytes),
    scenesPerSegment,
    prescaleBytes,
    segmentBytes,
    muxBytes,
  };
}

/**
 * Bytes per pixel of a decoded frame in an FFmpeg pixel format (`rgb24` 3, `rgba64be` 8,
 * `yuvj420p` 1.5). Unknown formats count as the worst case.
 */
export function bytesPerPixel(pixelFormat: string | null | undefined): number {
  const format = (pixelFormat ?? '').replace(/(be|le)$/, '');
  return BYTES_PER_PIXEL[format] ?? MAX_DECODED_BYTES_PER_PIXEL;
}

const BYTES_PER_PIXEL: Record<string, number> = {
  gray: 1,
  monob: 1,
  monow: 1,
  // Palette images are expanded to RGBA by the scaler.
  pal8: 4,
  gray16: 2,
  ya8: 2,
  ya16: 4,
  rgb24: 3,
  bgr24: 3,
  rgba: 4,
  bgra: 4,
  argb: 4,
  abgr: 4,
  rgb48: 6,
  rgba64: 8,
  yuv420p: 1.5,
  yuvj420p: 1.5,
  yuv411p: 1.5,
  yuvj411p: 1.5,
  yuv422p: 2,
  yuvj422p: 2,
  yuv440p: 2,
  yuvj440p: 2,
  yuv444p: 3,
  yuvj444p: 3,
  cmyk: 4,
};

/** `123.4 MiB`, for messages. */
export function describeBytes(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
