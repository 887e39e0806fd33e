import { rm, writeFile } from 'node:fs/promises';
import { UnrecoverableError } from '../errors.ts';
import { toLatin1 } from './latin1-text.ts';
import { runProcess, stderrTail } from './run-process.ts';
import type { SpeechEngine, SynthesizedSpeech, SynthesizeRequest } from './speech-engine.ts';
import { SpeechFailedError } from './speech-errors.ts';
import { synthesizedSpeechAt } from './wav-file.ts';

/** The HTS voice of Debian's `festvox-us-slt-hts`: a clear US English female voice. */
export const FESTIVAL_SLT_VOICE = 'cmu_us_slt_arctic_hts';

export interface FestivalEngineOptions {
  /** Festival's `text2wave` script. Default `text2wave` (looked up on the PATH). */
  text2wavePath?: string;
  /** A Festival voice, as in its `(voice_<name>)` function. Default {@link FESTIVAL_SLT_VOICE}. */
  voice?: string;
  /** Longest one synthesis may take. Default 60 s. */
  timeoutMs?: number;
}

/** Festival voice names become a Scheme call `(voice_<name>)`: letters, digits, `_` only. */
const VOICE_NAME = /^[A-Za-z0-9_]+$/;

/**
 * Festival (Debian's `festival`) through its `text2wave` script, with the HTS `slt` voice by
 * default: the best offline voice when it is installed. The text reaches Festival only as a
 * file (`text2wave <file>`), the voice only as a checked name, and no shell is involved.
 */
export class FestivalEngine implements SpeechEngine {
  readonly id = 'festival' as const;
  readonly voice: string;
  readonly settings: Readonly<Record<string, string>> = {};
  readonly #text2wavePath: string;
  readonly #timeoutMs: number;

  constructor(options: FestivalEngineOptions = {}) {
    this.voice = options.voice ?? FESTIVAL_SLT_VOICE;
    this.#text2wavePath = options.text2wavePath ?? 'text2wave';
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    checkVoice(this.voice);
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizedSpeech> {
    const voice = request.voice ?? this.voice;
    checkVoice(voice);
    const textPath = `${request.outputPath}.txt`;
    await writeFile(textPath, toLatin1(request.text));
    try {
      const { stderr } = await runProcess(
        this.#text2wavePath,
        ['-eval', `(voice_${voice})`, '-o', request.outputPath, textPath],
        { signal: request.signal, timeoutMs: this.#timeoutMs },
      );
      // text2wave exits with 0 even when its Scheme fails; SIOD reports errors on stderr.
      if (stderr.includes('SIOD ERROR')) {
        if (stderr.includes(`voice_${voice}`)) {
          throw new UnrecoverableError(`festival: voice ${voice} is not installed`);
        }
        throw new SpeechFailedError('festival failed', stderrTail(stderr));
      }
    } finally {
      await rm(textPath, { force: true });
    }
    return synthesizedSpeechAt(request.outputPath);
  }

  async close(): Promise<void> {}
}

function checkVoice(voice: string): void {
  if (!VOICE_NAME.test(voice)) {
    throw new UnrecoverableError(`festival: invalid voice name ${JSON.stringify(voice)}`);
  }
}
