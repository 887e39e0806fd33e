import { UnrecoverableError } from '../errors.ts';
import { runProcess } from './run-process.ts';
import { SpeechFailedError } from './speech-errors.ts';

/** EBU R128 targets for FFmpeg's `loudnorm`. */
export interface LoudnessTarget {
  /** Integrated loudness, LUFS (`I`). */
  integratedLufs: number;
  /** Maximum true peak, dBTP (`TP`). */
  truePeakDb: number;
  /** Loudness range, LU (`LRA`). */
  loudnessRange: number;
}

/** The voice-over's target: -16 LUFS (spoken word on the web), -1.5 dBTP, 11 LU. */
export const VOICE_OVER_LOUDNESS: Readonly<LoudnessTarget> = {
  integratedLufs: -16,
  truePeakDb: -1.5,
  loudnessRange: 11,
};

/** What `loudnorm` measured (its `input_*` values in pass 1, `output_*` in pass 2). */
export interface LoudnessMeasurement {
  integratedLufs: number;
  truePeakDb: number;
  loudnessRange: number;
  thresholdLufs: number;
  /** The gain pass 2 adds after normalising to land on the target (`target_offset`). */
  targetOffsetDb: number;
}

export interface MeasureLoudnessOptions {
  ffmpegPath: string;
  inputPath: string;
  /** Default {@link VOICE_OVER_LOUDNESS}; it changes `targetOffsetDb` only. */
  target?: LoudnessTarget;
  signal?: AbortSignal | undefined;
  /** Default 120 s. */
  timeoutMs?: number;
}

export interface NormalizeLoudnessOptions extends MeasureLoudnessOptions {
  /** The normalised WAV (mono, 16-bit PCM). */
  outputPath: string;
  /** Of the output. Default 48 000 (the render's audio rate); 24 000 halves the file. */
  sampleRate?: 24_000 | 48_000;
}

export interface NormalizedLoudness {
  /** Pass 1: the input as it was. */
  input: LoudnessMeasurement;
  /** Pass 2: the output as loudnorm made it. */
  output: LoudnessMeasurement;
  /**
   * `linear` when one gain was enough (the usual case for speech); `dynamic` when that gain
   * would have pushed peaks over the true-peak limit and loudnorm compressed instead.
   */
  normalizationType: 'linear' | 'dynamic';
}

const FFMPEG_QUIET = ['-hide_banner', '-nostdin', '-nostats'];

/** Pass 1 alone: `loudnorm=…:print_format=json` over the file, parsed from FFmpeg's stderr. */
export async function measureLoudness(
  options: MeasureLoudnessOptions,
): Promise<LoudnessMeasurement> {
  const target = options.target ?? VOICE_OVER_LOUDNESS;
  const { stderr } = await runProcess(
    options.ffmpegPath,
    [
      ...FFMPEG_QUIET,
      ...['-i', options.inputPath, '-map', '0:a:0'],
      ...['-af', `${loudnormTarget(target)}:print_format=json`, '-f', 'null', '-'],
    ],
    { signal: options.signal, timeoutMs: options.timeoutMs ?? 120_000 },
  );
  return readMeasurement(parseLoudnormJson(stderr), 'input');
}

/**
 * Two-pass loudness normalisation with FFmpeg's `loudnorm` (EBU R128): pass 1 measures the
 * file, pass 2 applies one linear gain computed from those measurements (`measured_*`,
 * `offset`, `linear=true`), so speech keeps its dynamics instead of being compressed the way
 * single-pass loudnorm does. Writes a mono 16-bit WAV at `sampleRate`.
 *
 * @throws {UnrecoverableError} when the input is silent (nothing to normalise).
 */
export async function normalizeLoudness(
  options: NormalizeLoudnessOptions,
): Promise<NormalizedLoudness> {
  const target = options.target ?? VOICE_OVER_LOUDNESS;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const input = await measureLoudness({ ...options, target, timeoutMs });
  const measured = [
    `measured_I=${input.integratedLufs}`,
    `measured_TP=${input.truePeakDb}`,
    `measured_LRA=${input.loudnessRange}`,
    `measured_thresh=${input.thresholdLufs}`,
    `offset=${input.targetOffsetDb}`,
  ].join(':');
  const { stderr } = await runProcess(
    options.ffmpegPath,
    [
      ...FFMPEG_QUIET,
      ...['-i', options.inputPath, '-map', '0:a:0', '-map_metadata', '-1'],
      ...['-af', `${loudnormTarget(target)}:${measured}:linear=true:print_format=json`],
      // loudnorm works (and outputs) at 192 kHz; resample to what the render wants.
      ...['-ar', String(options.sampleRate ?? 48_000), '-ac', '1', '-c:a', 'pcm_s16le'],
      ...['-fflags', '+bitexact', '-flags:a', '+bitexact', '-y', options.outputPath],
    ],
    { signal: options.signal, timeoutMs },
  );
  const json = parseLoudnormJson(stderr);
  return {
    input,
    output: readMeasurement(json, 'output'),
    normalizationType: json.normalization_type === 'linear' ? 'linear' : 'dynamic',
  };
}

function loudnormTarget(target: LoudnessTarget): string {
  return `loudnorm=I=${target.integratedLufs}:TP=${target.truePeakDb}:LRA=${target.loudnessRange}`;
}

/** The JSON object loudnorm prints last on stderr (`print_format=json`). */
function parseLoudnormJson(stderr: string): Record<string, string> {
  const start = stderr.lastIndexOf('{');
  const end = stderr.lastIndexOf('}');
  if (start < 0 || end < start) {
    throw new SpeechFailedError('ffmpeg loudnorm printed no measurement', stderr.slice(-500));
  }
  try {
    return JSON.parse(stderr.slice(start, end + 1)) as Record<string, string>;
  } catch {
    throw new SpeechFailedError('ffmpeg loudnorm printed unreadable JSON', stderr.slice(-500));
  }
}

function readMeasurement(
  json: Record<string, string>,
  side: 'input' | 'output',
): LoudnessMeasurement {
  const value = (key: string) => Number(json[key]);
  const measurement = {
    integratedLufs: value(`${side}_i`),
    truePeakDb: value(`${side}_tp`),
    loudnessRange: value(`${side}_lra`),
    thresholdLufs: value(`${side}_thresh`),
    targetOffsetDb: value('target_offset'),
  };
  // Silence measures as "-inf", which Number() reads as NaN; loudnorm cannot lift it.
  if (!Object.values(measurement).every(Number.isFinite) || measurement.integratedLufs < -70) {
    throw new UnrecoverableError(`the audio is silent (loudnorm measured ${json[`${side}_i`]})`);
  }
  return measurement;
}
