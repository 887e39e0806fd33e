/** The speech engines Reelroom has; the `engine` part of a voice-over's cache key. */
export const SPEECH_ENGINE_IDS = ['espeak-wasm', 'festival', 'flite', 'openai'] as const;
export type SpeechEngineId = (typeof SPEECH_ENGINE_IDS)[number];

/** A setting that changes how an engine sounds, as it enters the cache key. */
export type SpeechSetting = string | number | boolean;

export interface SynthesizeRequest {
  /** Plain text to speak: a sentence or a few. Never passed through a shell or a command line. */
  text: string;
  /** The engine's voice for this call. Default: the engine's {@link SpeechEngine.voice}. */
  voice?: string | undefined;
  /** Where to write the WAV, in a scratch directory of the caller's; replaced if present. */
  outputPath: string;
  /** Aborting stops the engine and rejects with `SpeechAbortedError`. */
  signal?: AbortSignal | undefined;
}

/** The WAV an engine wrote, as its header describes it. */
export interface SynthesizedSpeech {
  /** The request's `outputPath`. */
  path: string;
  sampleRate: number;
  channels: number;
  durationSec: number;
}

/**
 * One text-to-speech engine. Engines differ in where they run (a WebAssembly child process, a
 * Debian program, an HTTP API) but not in what they give back: a PCM WAV file. Loudness,
 * sample rate and pauses are the voice-over's business, not the engine's.
 *
 * Errors: `UnrecoverableError` (from `render-farm/errors.ts`) for what never works (an unknown
 * voice, a refused key, an engine that is not installed), `SpeechRetryLaterError` for a
 * provider's rate limit or outage, `SpeechFailedError` for an engine that crashed or wrote no
 * usable WAV, `SpeechAbortedError` when the request's signal aborted.
 */
export interface SpeechEngine {
  readonly id: SpeechEngineId;
  /** The default voice, in the engine's own naming (`en-us`, `cmu_us_slt_arctic_hts`, `alloy`). */
  readonly voice: string;
  /**
   * Everything besides the text and the voice that changes the sound (model, speaking rate,
   * pitch, the engine's version), as it enters the voice-over cache key: two engines with equal
   * `id`, `voice` and `settings` speak a text the same.
   */
  readonly settings: Readonly<Record<string, SpeechSetting>>;
  /** Writes `text` spoken as a WAV to `outputPath`. */
  synthesize(request: SynthesizeRequest): Promise<SynthesizedSpeech>;
  /** Frees what the engine holds (a child process); safe to call twice. */
  close(): Promise<void>;
}
