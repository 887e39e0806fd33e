import type OpenAI from 'openai';
import { findOnPath } from '../ffmpeg-binaries.ts';
import { EspeakWasmEngine, type EspeakWasmEngineOptions } from './espeak-wasm-engine.ts';
import { FESTIVAL_SLT_VOICE, FestivalEngine } from './festival-engine.ts';
import { FliteEngine } from './flite-engine.ts';
import { OpenAISpeechEngine, type OpenAISpeechEngineOptions } from './openai-speech-engine.ts';
import { runProcess } from './run-process.ts';
import type { SpeechEngine, SpeechEngineId } from './speech-engine.ts';

/**
 * The `TTS_PROVIDER` setting: an engine by name, or `offline` for the best engine installed
 * here (Festival's HTS `slt` voice, else flite, else espeak-ng from npm, which is always there).
 */
export const SPEECH_PROVIDERS = ['offline', 'openai', 'espeak', 'festival', 'flite'] as const;
export type SpeechProvider = (typeof SPEECH_PROVIDERS)[number];

/** The Debian speech programs found on this machine; null when missing. */
export interface InstalledSpeechEngines {
  /** `text2wave` that spoke a word with the voice asked for (Festival's HTS `slt` by default). */
  festival: { text2wavePath: string; voice: string } | null;
  /** `flite` and the voices `flite -lv` lists. */
  flite: { flitePath: string; voices: string[] } | null;
}

export interface DetectSpeechEnginesOptions {
  /** Directories searched for `text2wave` and `flite`, as in PATH (the config passes PATH). */
  searchPath: string;
  /** The Festival voice that must work for Festival to count. Default the HTS `slt` voice. */
  festivalVoice?: string;
  /** Per probe. Default 15 s (Festival loads its voice from disk the first time). */
  timeoutMs?: number;
}

/**
 * Looks for Festival (with its voice) and flite. Festival counts only when `text2wave` really
 * speaks a word with the voice, since Debian installs the program and the voice separately
 * and `text2wave` exits with 0 when the voice is missing. Run once per process, at start-up.
 */
export async function detectSpeechEngines(
  options: DetectSpeechEnginesOptions,
): Promise<InstalledSpeechEngines> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const festivalVoice = options.festivalVoice ?? FESTIVAL_SLT_VOICE;
  const probeFestival = async (text2wavePath: string) => {
    if (!/^[A-Za-z0-9_]+$/.test(festivalVoice)) return null;
    const { stdout, stderr } = await runProcess(
      text2wavePath,
      ['-eval', `(voice_${festivalVoice})`, '-o', '-'],
      { input: 'ok', timeoutMs },
    );
    return stdout.length > 44 && !stderr.includes('SIOD ERROR')
      ? { text2wavePath, voice: festivalVoice }
      : null;
  };
  const probeFlite = async (flitePath: string) => {
    const { stdout, stderr } = await runProcess(flitePath, ['-lv'], { timeoutMs });
    const listed = /Voices available:(.*)/.exec(`${stdout.toString('utf8')}${stderr}`)?.[1];
    const voices = (listed ?? '').trim().split(/\s+/).filter(Boolean);
    return voices.length > 0 ? { flitePath, voices } : null;
  };
  const text2wave = findOnPath('text2wave', options.searchPath);
  const flite = findOnPath('flite', options.searchPath);
  const [festivalFound, fliteFound] = await Promise.all([
    text2wave ? probeFestival(text2wave).catch(() => null) : null,
    flite ? probeFlite(flite).catch(() => null) : null,
  ]);
  return { festival: festivalFound, flite: fliteFound };
}

export interface ChooseSpeechEngineOptions {
  provider: SpeechProvider;
  /** From {@link detectSpeechEngines}. */
  installed: InstalledSpeechEngines;
  /**
   * Voices by engine (`TTS_VOICE` goes to the engine the provider names). Defaults: espeak-ng
   * `en-us`, Festival the HTS `slt` voice (the one detected), flite `slt`, OpenAI `alloy`.
   */
  voices?: Partial<Record<SpeechEngineId, string>>;
  /** Required for `openai`: the SDK client the process built with its key. */
  openai?: OpenAI;
  /** OpenAI model, speed and instructions. */
  openaiOptions?: Omit<OpenAISpeechEngineOptions, 'client' | 'voice'>;
  /** espeak-ng rate, pitch and time limit. */
  espeakOptions?: Omit<EspeakWasmEngineOptions, 'voice'>;
}

/**
 * Builds the engine a provider setting asks for. `offline` takes Festival when it was
 * detected, else flite, else espeak-ng (WebAssembly, from npm: always available). Naming an
 * engine that is not installed, or `openai` without a client, throws at once: a configuration
 * error should stop start-up, not every voice-over later.
 */
export function chooseSpeechEngine(options: ChooseSpeechEngineOptions): SpeechEngine {
  const { installed, voices = {} } = options;
  const festival = () => {
    if (!installed.festival) {
      throw new Error(
        'TTS provider festival: text2wave with the HTS slt voice is not installed (apt-get install festival festvox-us-slt-hts)',
      );
    }
    return new FestivalEngine({
      text2wavePath: installed.festival.text2wavePath,
      voice: voices.festival ?? installed.festival.voice,
    });
  };
  const flite = () => {
    if (!installed.flite) {
      throw new Error('TTS provider flite: flite is not installed (apt-get install flite)');
    }
    const voice = voices.flite ?? 'slt';
    if (!installed.flite.voices.includes(voice)) {
      throw new Error(
        `TTS provider flite: no voice ${voice} (installed: ${installed.flite.voices.join(', ')})`,
      );
    }
    return new FliteEngine({ flitePath: installed.flite.flitePath, voice });
  };
  const espeak = () =>
    new EspeakWasmEngine({
      ...options.espeakOptions,
      ...(voices['espeak-wasm'] ? { voice: voices['espeak-wasm'] } : {}),
    });
  switch (options.provider) {
    case 'openai':
      if (!options.openai) throw new Error('TTS provider openai: no OpenAI client (no key set)');
      return new OpenAISpeechEngine({
        ...options.openaiOptions,
        client: options.openai,
        ...(voices.openai ? { voice: voices.openai } : {}),
      });
    case 'festival':
      return festival();
    case 'flite':
      return flite();
    case 'espeak':
      return espeak();
    case 'offline':
      if (installed.festival) return festival();
      if (installed.flite?.voices.includes(voices.flite ?? 'slt')) return flite();
      return espeak();
  }
}
