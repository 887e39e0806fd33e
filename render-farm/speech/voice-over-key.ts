import { createHash } from 'node:crypto';
import { splitSentences } from '../../shared/script-format.ts';
import type { SpeechSetting } from './speech-engine.ts';

/**
 * Bumped when the way a voice-over is made changes (sentence splitting, pauses, normalisation),
 * so keys made before no longer match and the voice-overs are made again.
 */
export const VOICE_OVER_FORMAT_VERSION = 1;

export interface VoiceOverKeyParts {
  /** The scene's narration; only its sentences count, not how it is wrapped or spaced. */
  narration: string;
  /** The engine's id (`festival`, `openai`, …). */
  engine: string;
  /** The voice, in the engine's naming. */
  voice: string;
  /** The engine's settings and the voice-over's own (pause, sample rate, loudness target). */
  settings: Readonly<Record<string, SpeechSetting>>;
}

/**
 * The cache key of one scene's voice-over: sha256 (hex) over the canonical JSON (sorted keys,
 * no whitespace) of the narration's sentences, the engine, the voice, the settings and
 * {@link VOICE_OVER_FORMAT_VERSION}. Equal keys mean an equal WAV, so a scene whose key is
 * already stored is never synthesised again, whoever runs the pipeline and whenever.
 */
export function voiceOverKey(parts: VoiceOverKeyParts): string {
  const canonical = canonicalJson({
    format: VOICE_OVER_FORMAT_VERSION,
    sentences: splitSentences(parts.narration),
    engine: parts.engine,
    voice: parts.voice,
    settings: parts.settings,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

type Json = SpeechSetting | null | readonly Json[] | { readonly [key: string]: Json };

/** JSON with object keys sorted at every depth, so equal values give equal text. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as { readonly [key: string]: Json })
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
