import { writeFile } from 'node:fs/promises';
import type OpenAI from 'openai';
import { UnrecoverableError } from '../errors.ts';
import type {
  SpeechEngine,
  SpeechSetting,
  SynthesizedSpeech,
  SynthesizeRequest,
} from './speech-engine.ts';
import {
  SpeechAbortedError,
  SpeechFailedError,
  SpeechRetryLaterError,
  throwIfSpeechAborted,
} from './speech-errors.ts';
import { synthesizedSpeechAt } from './wav-file.ts';

export interface OpenAISpeechEngineOptions {
  /**
   * The SDK client, built once per process by the caller with its key, base URL, timeout and
   * retries (the SDK retries 408, 409, 429 and 5xx itself before this engine sees an error).
   */
  client: OpenAI;
  /** Default `tts-1`: the cheapest; `tts-1-hd` and `gpt-4o-mini-tts` sound better. */
  model?: string;
  /** Default `alloy`. */
  voice?: string;
  /** 0.25 to 4. Default 1. */
  speed?: number;
  /** How to speak (tone, pace); only `gpt-4o-mini-tts` models follow it. Default none. */
  instructions?: string;
}

/** The API's limit on `input`, in characters. */
export const OPENAI_SPEECH_MAX_INPUT = 4096;

/**
 * OpenAI text to speech through the official SDK (`audio.speech.create`, `response_format:
 * 'wav'`, 24 kHz mono). The engine never reads the environment: the caller passes the client.
 */
export class OpenAISpeechEngine implements SpeechEngine {
  readonly id = 'openai' as const;
  readonly voice: string;
  readonly settings: Readonly<Record<string, SpeechSetting>>;
  readonly #client: OpenAI;
  readonly #model: string;
  readonly #speed: number;
  readonly #instructions: string | undefined;

  constructor(options: OpenAISpeechEngineOptions) {
    this.#client = options.client;
    this.#model = options.model ?? 'tts-1';
    this.voice = options.voice ?? 'alloy';
    this.#speed = options.speed ?? 1;
    this.#instructions = options.instructions;
    if (!(this.#speed >= 0.25 && this.#speed <= 4)) {
      throw new RangeError('OpenAISpeechEngine: speed must be between 0.25 and 4');
    }
    this.settings = {
      model: this.#model,
      speed: this.#speed,
      ...(this.#instructions ? { instructions: this.#instructions } : {}),
    };
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizedSpeech> {
    if (request.text.length > OPENAI_SPEECH_MAX_INPUT) {
      throw new UnrecoverableError(
        `openai speech: text of ${request.text.length} characters is over the API's ${OPENAI_SPEECH_MAX_INPUT}`,
      );
    }
    throwIfSpeechAborted(request.signal);
    let wav: Buffer;
    try {
      const response = await this.#client.audio.speech.create(
        {
          model: this.#model,
          voice: request.voice ?? this.voice,
          input: request.text,
          response_format: 'wav',
          ...(this.#speed !== 1 ? { speed: this.#speed } : {}),
          ...(this.#instructions ? { instructions: this.#instructions } : {}),
        },
        request.signal ? { signal: request.signal } : {},
      );
      wav = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      throw toSpeechError(error, request.signal, this.#client.constructor as typeof OpenAI);
    }
    await writeFile(request.outputPath, wav);
    return synthesizedSpeechAt(request.outputPath);
  }

  async close(): Promise<void> {}
}

/**
 * Sorts the SDK's errors into retry-later, never-works, aborted and failed. The error classes
 * come from the client's own class: this module imports the SDK's types only, so a node
 * without an OpenAI key never loads it.
 */
function toSpeechError(
  error: unknown,
  signal: AbortSignal | undefined,
  OpenAI: typeof import('openai').default,
): Error {
  const options = { cause: error };
  if (error instanceof OpenAI.APIUserAbortError || signal?.aborted) {
    return new SpeechAbortedError(`openai speech aborted: ${String(signal?.reason ?? 'abort')}`);
  }
  if (error instanceof OpenAI.RateLimitError) {
    // A used-up quota does not come back by waiting.
    if (error.code === 'insufficient_quota') {
      return new UnrecoverableError(`openai speech: ${error.message}`, options);
    }
    return new SpeechRetryLaterError(
      `openai speech rate limited: ${error.message}`,
      retryAfterMs(error.headers),
      options,
    );
  }
  if (
    error instanceof OpenAI.APIConnectionError ||
    error instanceof OpenAI.InternalServerError ||
    error instanceof OpenAI.ConflictError
  ) {
    return new SpeechRetryLaterError(`openai speech unavailable: ${error.message}`, undefined, {
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIError) {
    // 400, 401, 403, 404, 422: the key, the model, the voice or the text is refused.
    return new UnrecoverableError(`openai speech refused: ${error.message}`, options);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SpeechFailedError(`openai speech failed: ${message}`, '', options);
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const seconds = Number(headers?.get('retry-after'));
  if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  return undefined;
}
