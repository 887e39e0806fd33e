import { rm, writeFile } from 'node:fs/promises';
import { UnrecoverableError } from '../errors.ts';
import { toLatin1 } from './latin1-text.ts';
import { runProcess } from './run-process.ts';
import type { SpeechEngine, SynthesizedSpeech, SynthesizeRequest } from './speech-engine.ts';
import { synthesizedSpeechAt } from './wav-file.ts';

export interface FliteEngineOptions {
  /** The `flite` program. Default `flite` (looked up on the PATH). */
  flitePath?: string;
  /** One of flite's built-in voices (`flite -lv`: `slt`, `kal`, `awb`, `rms`). Default `slt`. */
  voice?: string;
  /** Longest one synthesis may take. Default 60 s. */
  timeoutMs?: number;
}

const VOICE_NAME = /^[A-Za-z0-9_]+$/;

/**
 * CMU Flite (Debian's `flite`), voice `slt` by default: fast, small, better than espeak-ng and
 * not as good as Festival's HTS voice. Text goes in as a file (`-f`), never on a command line.
 * flite falls back to its default voice silently for an unknown name, so the voice should be
 * one {@link detectSpeechEngines} found in `flite -lv`.
 */
export class FliteEngine implements SpeechEngine {
  readonly id = 'flite' as const;
  readonly voice: string;
  readonly settings: Readonly<Record<string, string>> = {};
  readonly #flitePath: string;
  readonly #timeoutMs: number;

  constructor(options: FliteEngineOptions = {}) {
    this.voice = options.voice ?? 'slt';
    this.#flitePath = options.flitePath ?? 'flite';
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    checkVoice(this.voice);
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizedSpeech> {
    const voice = request.voice ?? this.voice;
    checkVoice(voice);
    const textPath = `${request.outputPath}.txt`;
    await writeFile(textPath, toLatin1(request.text));
    try {
      await runProcess(
        this.#flitePath,
        ['-voice', voice, '-f', textPath, '-o', request.outputPath],
        { signal: request.signal, timeoutMs: this.#timeoutMs },
      );
    } finally {
      await rm(textPath, { force: true });
    }
    return synthesizedSpeechAt(request.outputPath);
  }

  async close(): Promise<void> {}
}

function checkVoice(voice: string): void {
  if (!VOICE_NAME.test(voice)) {
    throw new UnrecoverableError(`flite: invalid voice name ${JSON.stringify(voice)}`);
  }
}
