import type { SentenceTiming } from './voice-over.ts';

/** One caption: a sentence, in seconds from the start of the video. */
export interface CaptionCue {
  start: number;
  end: number;
  text: string;
}

/** A scene's sentences and where the scene starts in the video. */
export interface SceneCaptions {
  /** Seconds from the video's start to the scene's start (the lengths of the scenes before). */
  offsetSec: number;
  /** The scene voice-over's `sentences`; empty for a scene without narration. */
  sentences: readonly SentenceTiming[];
}

/**
 * The captions of a whole video: every scene's sentence timings moved by the scene's offset,
 * in order. Cues of zero length are left out; a cue never runs into the next one.
 */
export function captionCues(scenes: readonly SceneCaptions[]): CaptionCue[] {
  const cues: CaptionCue[] = [];
  for (const scene of scenes) {
    for (const sentence of scene.sentences) {
      const start = roundMs(scene.offsetSec + sentence.start);
      const end = roundMs(scene.offsetSec + sentence.end);
      const previous = cues.at(-1);
      if (previous && previous.end > start) previous.end = start;
      if (end > start) cues.push({ start, end, text: sentence.text });
    }
  }
  return cues.filter((cue) => cue.end > cue.start);
}

/**
 * A WebVTT file of the cues: the `WEBVTT` header, then one numbered cue per caption with
 * `HH:MM:SS.mmm --> HH:MM:SS.mmm` timings. `&`, `<` and `>` are escaped (so a `-->` in a
 * sentence cannot end a timing line) and line breaks inside a text become spaces, since a
 * blank line would end the cue.
 */
export function toWebVtt(cues: readonly CaptionCue[]): string {
  const blocks = cues.map(
    (cue, index) =>
      `${index + 1}\n${vttTimestamp(cue.start)} --> ${vttTimestamp(cue.end)}\n${escapeCueText(cue.text)}`,
  );
  return `WEBVTT\n\n${blocks.map((block) => `${block}\n\n`).join('')}`;
}

/** `HH:MM:SS.mmm`, as WebVTT wants it (hours always present). */
export function vttTimestamp(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

function escapeCueText(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .trim()
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

const roundMs = (seconds: number) => Math.round(seconds * 1000) / 1000;
