import { z } from 'zod';

/**
 * The script format of SPEC "Script format": the text of a project's `script` Y.Text, cut into
 * scenes. One parser for the server, the workers and the web page.
 *
 * ```text
 * # Cold open                      <- the scene's on-screen title
 * // keep this under ten seconds   <- a note: neither spoken nor shown
 * Every video starts with a hook.  <- narration, one or more lines
 * ---                              <- the next scene starts
 * Narration without a title.
 * ```
 *
 * The rules, exactly:
 * - Lines end at `\n`, `\r\n` or `\r`. Each line is classified after trimming its surrounding
 *   whitespace, so indented lines and a `--- ` with trailing spaces mean what they look like.
 * - A line holding only `---` separates scenes. `----`, `- - -` or `--- x` are narration.
 * - A line starting with `//` is a note (its text is the rest, trimmed), wherever it stands.
 * - The scene's first line that is neither blank nor a note is its title when it starts with
 *   `# ` (hash, space). `#Title`, a lone `#` and a later `# ` line are narration.
 * - Every other non-blank line is a narration line, trimmed. Blank lines are dropped.
 * - A block with neither a title nor narration (nothing at all, or only notes) is not a scene:
 *   leading, trailing and doubled separators never make empty 3-second scenes. `index` counts
 *   only the scenes kept, so it is the `sceneIndex` the pipeline's artifacts carry.
 *
 * Round trips ({@link printScript}): for any text `t`, `printScript(parseScript(t).scenes)` is
 * the canonical form of `t`, and parsing it gives the same scenes as `t` (title, narration and
 * notes; positions differ). A canonical text prints back to itself unchanged.
 */

/** The line that separates two scenes, as {@link printScript} writes it. */
export const SCENE_SEPARATOR = '---';

/** SPEC: a scene without narration lasts 3 seconds (one with narration, its voice-over). */
export const SILENT_SCENE_SECONDS = 3;

/** One scene of a parsed script. */
export const scriptSceneSchema = z.object({
  /** 0-based among the scenes kept; the `sceneIndex` of the scene's artifacts. */
  index: z.int().nonnegative(),
  /** The on-screen title from a first `# ` line, trimmed; null without one. */
  title: z.string().min(1).nullable(),
  /**
   * The narration lines joined with `\n`: what the voice-over speaks and the captions show.
   * Kept as lines (not joined with spaces) because a line is a caption boundary: a line written
   * without a full stop still ends a sentence in {@link splitSentences}. Empty without narration.
   */
  narration: z.string(),
  /** The narration lines, each trimmed and non-empty, in order. */
  narrationLines: z.array(z.string().min(1)),
  /** The texts of the scene's `//` notes (without the slashes, trimmed), in order. */
  notes: z.array(z.string()),
  /** 1-based line of the scene's first non-blank line (a title, note or narration line). */
  startLine: z.int().positive(),
  /** 1-based line of its last non-blank line, inclusive. */
  endLine: z.int().positive(),
  /**
   * UTF-16 offsets of the same span in the text, `[startOffset, endOffset)` (the last line's
   * line break excluded), as Y.Text and the DOM count them: for highlighting a scene.
   */
  startOffset: z.int().nonnegative(),
  endOffset: z.int().nonnegative(),
});
export type ScriptScene = z.infer<typeof scriptSceneSchema>;

export const parsedScriptSchema = z.object({ scenes: z.array(scriptSceneSchema) });
export type ParsedScript = z.infer<typeof parsedScriptSchema>;

/**
 * A scene to print: a parsed {@link ScriptScene} or one built by hand (a generated script).
 * `narrationLines` wins over `narration`; either may hold line breaks, which start new lines.
 */
export interface ScriptSceneDraft {
  title?: string | null | undefined;
  narration?: string | undefined;
  narrationLines?: readonly string[] | undefined;
  notes?: readonly string[] | undefined;
}

/** A scene {@link printScript} cannot write so that it parses back as given. */
export class ScriptFormatError extends Error {
  override readonly name = 'ScriptFormatError';
}

const LINE_BREAK = /\r\n|\r|\n/;
const TITLE_PREFIX = '# ';
const NOTE_PREFIX = '//';

interface Line {
  text: string;
  start: number;
  end: number;
  number: number;
}

/** Splits a text into lines with their offsets; a text ending in a line break ends in ''. */
function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  const breaks = new RegExp(LINE_BREAK.source, 'g');
  let start = 0;
  for (const match of text.matchAll(breaks)) {
    lines.push({ text: text.slice(start, match.index), start, end: match.index, number: 0 });
    start = match.index + match[0].length;
  }
  lines.push({ text: text.slice(start), start, end: text.length, number: 0 });
  for (const [index, line] of lines.entries()) line.number = index + 1;
  return lines;
}

/**
 * Cuts a script into scenes. Never throws: every text is a script (see the module comment for
 * the rules). Pure and linear in the text's length, so it can run on every keystroke.
 */
export function parseScript(text: string): ParsedScript {
  const scenes: ScriptScene[] = [];
  let block: Line[] = [];
  const close = () => {
    const scene = parseBlock(block, scenes.length);
    if (scene) scenes.push(scene);
    block = [];
  };
  for (const line of splitLines(text)) {
    if (line.text.trim() === SCENE_SEPARATOR) close();
    else block.push(line);
  }
  close();
  return { scenes };
}

function parseBlock(block: readonly Line[], index: number): ScriptScene | null {
  let title: string | null = null;
  const narrationLines: string[] = [];
  const notes: string[] = [];
  let first: Line | undefined;
  let last: Line | undefined;
  let seenContent = false;
  for (const line of block) {
    const text = line.text.trim();
    if (text === '') continue;
    first ??= line;
    last = line;
    if (text.startsWith(NOTE_PREFIX)) {
      notes.push(text.slice(NOTE_PREFIX.length).trim());
      continue;
    }
    if (!seenContent) {
      seenContent = true;
      // The line is trimmed, so a `# ` prefix is always followed by a non-blank title.
      if (text.startsWith(TITLE_PREFIX)) {
        title = text.slice(TITLE_PREFIX.length).trim();
        continue;
      }
    }
    narrationLines.push(text);
  }
  if (title === null && narrationLines.length === 0) return null;
  // Both set: a title or narration line was seen.
  return {
    index,
    title,
    narration: narrationLines.join('\n'),
    narrationLines,
    notes,
    startLine: first!.number,
    endLine: last!.number,
    startOffset: first!.start,
    endOffset: last!.end,
  };
}

/** The non-blank lines of `parts`, each trimmed: line breaks inside a part start new lines. */
function cleanLines(parts: readonly string[]): string[] {
  return parts.flatMap((part) =>
    part
      .split(LINE_BREAK)
      .map((line) => line.trim())
      .filter((line) => line !== ''),
  );
}

/**
 * Writes scenes in the canonical form: per scene its `# title` line, its `// note` lines, then
 * its narration lines; scenes joined by a `---` line; `\n` line breaks, no blank lines and no
 * trailing line break. Line breaks inside a title become spaces; scenes with nothing at all are
 * left out; a scene with only notes is written but, as the format says, parses as no scene.
 *
 * @throws {ScriptFormatError} when a narration line would read as something else: a `---` or
 *   `//…` line, or, in a scene without a title, a first narration line starting with `# `.
 */
export function printScript(scenes: readonly ScriptSceneDraft[]): string {
  const blocks: string[] = [];
  for (const [position, scene] of scenes.entries()) {
    const title = cleanLines([scene.title ?? '']).join(' ');
    const notes = (scene.notes ?? []).flatMap((note) =>
      note.split(LINE_BREAK).map((line) => line.trim()),
    );
    const narration = cleanLines(scene.narrationLines ?? [scene.narration ?? '']);
    for (const [lineIndex, line] of narration.entries()) {
      const reason =
        line === SCENE_SEPARATOR
          ? 'would separate scenes'
          : line.startsWith(NOTE_PREFIX)
            ? 'would be a note'
            : !title && lineIndex === 0 && line.startsWith(TITLE_PREFIX)
              ? 'would be the title'
              : undefined;
      if (reason) {
        throw new ScriptFormatError(
          `scene ${position}: narration line ${JSON.stringify(line)} ${reason}`,
        );
      }
    }
    if (!title && notes.length === 0 && narration.length === 0) continue;
    blocks.push(
      [
        ...(title ? [`${TITLE_PREFIX}${title}`] : []),
        ...notes.map((note) => (note ? `${NOTE_PREFIX} ${note}` : NOTE_PREFIX)),
        ...narration,
      ].join('\n'),
    );
  }
  return blocks.join(`\n${SCENE_SEPARATOR}\n`);
}

/** Words that end in a full stop without ending the sentence (compared lower-cased). */
const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'sr',
  'jr',
  'st',
  'mt',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'cf',
  'approx',
  'no',
  'fig',
  'inc',
  'ltd',
  'co',
]);

/** A run of sentence terminators, closing quotes or brackets, then the whitespace after them. */
const SENTENCE_END = /[.!?…‽]+["'”’»)\]]*(\s+)/gu;

/**
 * Cuts narration into sentences, the unit of per-sentence synthesis and of one caption cue.
 * A line break always ends a sentence; within a line a sentence ends after `.`, `!`, `?` or `…`
 * (and closing quotes or brackets) followed by whitespace, except after a common abbreviation
 * (`Dr.`, `e.g.`), a single-letter initial (`J. R. R.`) or before a lower-case word. Each
 * sentence is trimmed and non-empty; removing all whitespace from the sentences and from the
 * narration gives the same characters. Deterministic (no `Intl.Segmenter`, whose rules differ
 * between browsers and Node), so every process times the same captions.
 */
export function splitSentences(narration: string): string[] {
  const sentences: string[] = [];
  for (const line of cleanLines([narration])) {
    let start = 0;
    for (const match of line.matchAll(SENTENCE_END)) {
      const end = match.index + match[0].length - match[1]!.length;
      if (!endsSentence(line, match.index, match[0], end + match[1]!.length)) continue;
      sentences.push(line.slice(start, end));
      start = end + match[1]!.length;
    }
    if (start < line.length) sentences.push(line.slice(start));
  }
  return sentences;
}

function endsSentence(line: string, at: number, terminator: string, next: number): boolean {
  // `?`, `!`, `…` and an ellipsis `...` always end a sentence.
  if (!/^[.]["'”’»)\]]*\s/u.test(terminator)) return true;
  // A single full stop: not after an abbreviation or an initial, nor before a lower-case word.
  const word = /(\S+)$/u.exec(line.slice(0, at))?.[1] ?? '';
  const bare = word.replace(/^["'“‘«([]+/u, '').toLowerCase();
  if (ABBREVIATIONS.has(bare) || /^\p{L}$/u.test(bare)) return false;
  return !/^\p{Ll}/u.test(line.slice(next));
}
