import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { splitSentences } from '../../shared/script-format.ts';
import { UnrecoverableError } from '../errors.ts';
import type { FfmpegBinaries } from '../ffmpeg-binaries.ts';
import { probeMedia } from '../media-probe.ts';
import {
  type LoudnessTarget,
  type NormalizedLoudness,
  normalizeLoudness,
  VOICE_OVER_LOUDNESS,
} from './loudness.ts';
import { runProcess } from './run-process.ts';
import type { SpeechEngine, SpeechEngineId, SpeechSetting } from './speech-engine.ts';
import { SpeechFailedError, throwIfSpeechAborted } from './speech-errors.ts';
import { voiceOverKey } from './voice-over-key.ts';

/** When one sentence is spoken in a voice-over, in seconds from the WAV's start. */
export interface SentenceTiming {
  start: number;
  end: number;
  text: string;
}

/** What shapes a voice-over besides the narration and the engine; all part of its cache key. */
export interface VoiceOverFormat {
  /** Silence between two sentences, in seconds. Default 0.3: a breath, so captions can change. */
  pauseSec?: number;
  /** Of the output WAV. Default 48 000, the render's audio rate. */
  sampleRate?: 24_000 | 48_000;
  /** Default {@link VOICE_OVER_LOUDNESS} (-16 LUFS, -1.5 dBTP, LRA 11). */
  loudness?: LoudnessTarget;
}

export interface VoiceOverRequest extends VoiceOverFormat {
  /** The scene's narration (`ScriptScene.narration`). */
  narration: string;
  engine: SpeechEngine;
  /** Default: the engine's voice. */
  voice?: string | undefined;
  /** FFmpeg for concatenating and normalising, FFprobe for measuring the result. */
  ffmpeg: FfmpegBinaries;
  /**
   * A directory of the caller's for intermediate files: one sentence WAV each and the joined
   * WAV, in a subdirectory that is removed before this returns, also on failure.
   */
  scratchDir: string;
  /** Where the finished WAV goes (it may be inside `scratchDir`). */
  outputPath: string;
  /** Aborting stops the current engine call or FFmpeg run and rejects with its aborted error. */
  signal?: AbortSignal | undefined;
  /** Called after each sentence is synthesised, for progress events. */
  onSentence?: (done: number, total: number) => void;
}

/** A finished voice-over of one scene. */
export interface VoiceOver {
  /** The request's `outputPath`: mono 16-bit PCM WAV, normalised to the loudness target. */
  path: string;
  /** Measured with FFprobe on the finished file: the scene's length. */
  durationSec: number;
  sampleRate: number;
  /** Per sentence, in order, non-overlapping, within `[0, durationSec]`. */
  sentences: SentenceTiming[];
  /** {@link voiceOverCacheKey} of the request. */
  key: string;
  engine: SpeechEngineId;
  voice: string;
  loudness: NormalizedLoudness;
}

const DEFAULT_PAUSE_SEC = 0.3;
const DEFAULT_SAMPLE_RATE = 48_000;

/** A sentence with something to say: "—" or "..." alone would make engines emit noise. */
const SPEAKABLE = /[\p{L}\p{N}]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/gu;

/** The settings that enter the cache key: the engine's and the format's. */
export function voiceOverSettings(
  engine: SpeechEngine,
  format: VoiceOverFormat = {},
): Record<string, SpeechSetting> {
  const loudness = format.loudness ?? VOICE_OVER_LOUDNESS;
  return {
    ...Object.fromEntries(Object.entries(engine.settings).map(([k, v]) => [`engine.${k}`, v])),
    pauseSec: format.pauseSec ?? DEFAULT_PAUSE_SEC,
    sampleRate: format.sampleRate ?? DEFAULT_SAMPLE_RATE,
    integratedLufs: loudness.integratedLufs,
    truePeakDb: loudness.truePeakDb,
    loudnessRange: loudness.loudnessRange,
  };
}

/**
 * The cache key {@link synthesizeVoiceOver} gives the same request, computed without
 * synthesising: look it up among stored voice-overs first and skip scenes already made.
 */
export function voiceOverCacheKey(
  request: Pick<VoiceOverRequest, 'narration' | 'engine' | 'voice'> & VoiceOverFormat,
): string {
  return voiceOverKey({
    narration: request.narration,
    engine: request.engine.id,
    voice: request.voice ?? request.engine.voice,
    settings: voiceOverSettings(request.engine, request),
  });
}

/**
 * Makes one scene's voice-over: cuts the narration into sentences (`splitSentences`), has the
 * engine speak each one, joins them with a short pause, normalises the whole once (two-pass
 * loudnorm) and measures the result with FFprobe. The sentence timings come from the lengths
 * of the sentence WAVs, so captions follow the speech.
 *
 * @throws {UnrecoverableError} when the narration has nothing to speak.
 */
export async function synthesizeVoiceOver(request: VoiceOverRequest): Promise<VoiceOver> {
  const sentences = splitSentences(request.narration)
    // Control characters (a NUL ends espeak-ng's input early) are neither spoken nor shown.
    .map((sentence) => sentence.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/gu, ' ').trim())
    .filter((sentence) => SPEAKABLE.test(sentence));
  if (sentences.length === 0) {
    throw new UnrecoverableError('the narration has nothing to speak');
  }
  const voice = request.voice ?? request.engine.voice;
  const sampleRate = request.sampleRate ?? DEFAULT_SAMPLE_RATE;
  const pauseSec = request.pauseSec ?? DEFAULT_PAUSE_SEC;
  const { signal } = request;
  throwIfSpeechAborted(signal);
  const work = await mkdtemp(join(request.scratchDir, 'voice-over-'));
  try {
    const spoken: { path: string; durationSec: number; text: string }[] = [];
    for (const [index, text] of sentences.entries()) {
      const result = await request.engine.synthesize({
        text,
        voice,
        outputPath: join(work, `sentence-${index}.wav`),
        signal,
      });
      spoken.push({ path: result.path, durationSec: result.durationSec, text });
      request.onSentence?.(index + 1, sentences.length);
    }
    const joined = join(work, 'joined.wav');
    await joinWithPauses(request.ffmpeg.ffmpegPath, spoken, pauseSec, sampleRate, joined, signal);
    const loudness = await normalizeLoudness({
      ffmpegPath: request.ffmpeg.ffmpegPath,
      inputPath: joined,
      outputPath: request.outputPath,
      sampleRate,
      ...(request.loudness ? { target: request.loudness } : {}),
      signal,
    });
    const probed = await probeMedia(request.ffmpeg.ffprobePath, request.outputPath).catch(
      (error: unknown) => {
        throw new SpeechFailedError(`ffprobe failed on the voice-over: ${String(error)}`);
      },
    );
    if (probed.durationSec === null) {
      throw new SpeechFailedError('ffprobe found no duration in the voice-over');
    }
    const durationSec = probed.durationSec;
    return {
      path: request.outputPath,
      durationSec,
      sampleRate,
      sentences: sentenceTimings(spoken, pauseSec, durationSec),
      key: voiceOverCacheKey(request),
      engine: request.engine.id,
      voice,
      loudness,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Back to back, `pauseSec` apart; the last end is clamped to the measured duration. */
function sentenceTimings(
  spoken: readonly { durationSec: number; text: string }[],
  pauseSec: number,
  durationSec: number,
): SentenceTiming[] {
  const timings: SentenceTiming[] = [];
  let at = 0;
  for (const sentence of spoken) {
    const start = Math.min(round(at), durationSec);
    const end = Math.min(round(at + sentence.durationSec), durationSec);
    timings.push({ start, end, text: sentence.text });
    at += sentence.durationSec + pauseSec;
  }
  return timings;
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;

/**
 * Resamples every sentence to one rate and format, pads all but the last with `pauseSec` of
 * silence and concatenates them (FFmpeg's `concat` filter), into one WAV.
 */
async function joinWithPauses(
  ffmpegPath: string,
  spoken: readonly { path: string }[],
  pauseSec: number,
  sampleRate: number,
  outputPath: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const padSamples = Math.round(pauseSec * sampleRate);
  const chains = spoken.map((_, index) => {
    const pad = index < spoken.length - 1 && padSamples > 0 ? `,apad=pad_len=${padSamples}` : '';
    return `[${index}:a:0]aresample=${sampleRate},aformat=sample_fmts=s16:channel_layouts=mono${pad}[s${index}]`;
  });
  const inputs = spoken.map((_, index) => `[s${index}]`).join('');
  const filter = `${chains.join(';')};${inputs}concat=n=${spoken.length}:v=0:a=1[out]`;
  await runProcess(
    ffmpegPath,
    [
      ...['-hide_banner', '-nostdin', '-nostats'],
      ...spoken.flatMap((sentence) => ['-i', sentence.path]),
      ...['-filter_complex', filter, '-map', '[out]', '-c:a', 'pcm_s16le', '-y', outputPath],
    ],
    { signal, timeoutMs: 120_000 },
  );
}
