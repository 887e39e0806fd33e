import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parsedScriptSchema,
  parseScript,
  printScript,
  ScriptFormatError,
  type ScriptScene,
  splitSentences,
} from '../../shared/script-format.ts';

/** What a round trip keeps: everything but the positions. */
const content = (scenes: readonly ScriptScene[]) =>
  scenes.map(({ index, title, narration, narrationLines, notes }) => ({
    index,
    title,
    narration,
    narrationLines,
    notes,
  }));

const lineBreak = fc.constantFrom('\n', '\r\n', '\r');

/** Lines built from the format's own pieces, so the properties meet its edge cases often. */
const scriptLine = fc.oneof(
  fc.constantFrom('---', '--- ', '  ---\t', '----', '- - -', '', ' ', '\t', '#', '# ', '#x'),
  fc.constantFrom('# Title', '#  Two  spaces ', '//', '// note', '//note', '///x', '  // indented'),
  fc.constantFrom('Hello world.', 'Dr. Who? Yes!', '# later', 'a -- b', '\u2028', '\uFEFFx'),
  fc.string({ maxLength: 12 }),
  fc
    .tuple(fc.constantFrom('# ', '// ', '', ' '), fc.string({ maxLength: 8 }))
    .map(([a, b]) => a + b),
);

const scriptText = fc
  .array(fc.tuple(scriptLine, lineBreak), { maxLength: 30 })
  .chain((lines) =>
    fc
      .boolean()
      .map((trailing) =>
        lines
          .map(([line, eol], i) => line + (i < lines.length - 1 || trailing ? eol : ''))
          .join(''),
      ),
  );

const anyText = fc.oneof(scriptText, fc.string({ unit: 'binary', maxLength: 200 }));

describe('parseScript', () => {
  it('cuts scenes at --- lines, takes a first # line as the title and // lines as notes', () => {
    const { scenes } = parseScript(
      [
        '# Cold open',
        '// keep it short',
        'Every video starts with a hook.',
        'Then it keeps a promise.',
        '---',
        'No title here.',
        '# not a title',
      ].join('\n'),
    );
    expect(content(scenes)).toEqual([
      {
        index: 0,
        title: 'Cold open',
        narration: 'Every video starts with a hook.\nThen it keeps a promise.',
        narrationLines: ['Every video starts with a hook.', 'Then it keeps a promise.'],
        notes: ['keep it short'],
      },
      {
        index: 1,
        title: null,
        narration: 'No title here.\n# not a title',
        narrationLines: ['No title here.', '# not a title'],
        notes: [],
      },
    ]);
    expect(scenes.map((s) => [s.startLine, s.endLine])).toEqual([
      [1, 4],
      [6, 7],
    ]);
  });

  it('reads CRLF, lone CR, indented lines and a --- with trailing spaces the same as LF', () => {
    const lf = parseScript('# A\nOne.\n---\nTwo.');
    for (const text of [
      '# A\r\nOne.\r\n---  \r\nTwo.\r\n',
      '# A\rOne.\r---\rTwo.',
      '  # A\n\tOne.  \n  ---\t\n Two.\n\n',
    ]) {
      expect(content(parseScript(text).scenes)).toEqual(content(lf.scenes));
    }
  });

  it('makes no scene of leading, trailing or doubled separators, blank blocks or notes alone', () => {
    const { scenes } = parseScript('---\n\n---\n// only a note\n---\n# Title only\n---\n---\n');
    expect(content(scenes)).toEqual([
      { index: 0, title: 'Title only', narration: '', narrationLines: [], notes: [] },
    ]);
    expect(parseScript('').scenes).toEqual([]);
    expect(parseScript('\n\n  \n').scenes).toEqual([]);
  });

  it('keeps #Title, a lone # and // lines inside narration apart from titles', () => {
    const { scenes } = parseScript('#Title\n# \nSpoken.\n  // aside\nMore.');
    expect(content(scenes)[0]).toEqual({
      index: 0,
      title: null,
      narration: '#Title\n#\nSpoken.\nMore.',
      narrationLines: ['#Title', '#', 'Spoken.', 'More.'],
      notes: ['aside'],
    });
    // Notes before the title do not take its place.
    expect(parseScript('// n\n\n#   Late title  \nx').scenes[0]?.title).toBe('Late title');
  });

  it('gives offsets that slice each scene out of the text', () => {
    const text = '\n# One\r\nA.\r\n---\r\n\r\n  B.  \r\n// n\r\n';
    const { scenes } = parseScript(text);
    expect(scenes.map((s) => text.slice(s.startOffset, s.endOffset))).toEqual([
      '# One\r\nA.',
      '  B.  \r\n// n',
    ]);
    expect(scenes.map((s) => [s.startLine, s.endLine])).toEqual([
      [2, 3],
      [6, 7],
    ]);
  });

  it('parses any text into well-formed scenes (property)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parsed = parseScript(text);
        expect(parsedScriptSchema.parse(parsed)).toEqual(parsed);
        for (const [i, scene] of parsed.scenes.entries()) {
          expect(scene.index).toBe(i);
          expect(scene.title !== null || scene.narrationLines.length > 0).toBe(true);
          expect(scene.narration).toBe(scene.narrationLines.join('\n'));
          expect(scene.startLine).toBeLessThanOrEqual(scene.endLine);
          expect(scene.endOffset).toBeLessThanOrEqual(text.length);
          // The scene's span parses, on its own, to the same scene.
          const alone = parseScript(text.slice(scene.startOffset, scene.endOffset)).scenes;
          expect(content(alone)).toEqual(content([{ ...scene, index: 0 }]));
        }
        for (const [a, b] of parsed.scenes.slice(1).map((s, i) => [parsed.scenes[i]!, s])) {
          expect(a!.endOffset).toBeLessThan(b!.startOffset);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('printScript', () => {
  it('writes the canonical form', () => {
    expect(
      printScript([
        { title: 'Intro', notes: ['cut if long'], narration: 'Hello.\nWelcome.' },
        { title: null, narrationLines: ['  Second scene.  ', ''] },
        { title: '', notes: [], narration: '' },
        { title: 'Card' },
      ]),
    ).toBe('# Intro\n// cut if long\nHello.\nWelcome.\n---\nSecond scene.\n---\n# Card');
  });

  it('refuses narration lines the format would read as something else', () => {
    expect(() => printScript([{ narration: 'A\n---\nB' }])).toThrow(ScriptFormatError);
    expect(() => printScript([{ title: 'T', narration: '// not spoken' }])).toThrow(
      /would be a note/,
    );
    expect(() => printScript([{ narration: '# Heading' }])).toThrow(/would be the title/);
    expect(printScript([{ title: 'T', narration: '# Heading' }])).toBe('# T\n# Heading');
  });

  it('prints any parsed text to a canonical form that parses to the same scenes (property)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parsed = parseScript(text);
        const canonical = printScript(parsed.scenes);
        const reparsed = parseScript(canonical);
        expect(content(reparsed.scenes)).toEqual(content(parsed.scenes));
        expect(printScript(reparsed.scenes)).toBe(canonical);
        expect(canonical).not.toMatch(/\r|\n\n|^\n|\n$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips canonical text exactly, and scenes built by hand (property)', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ,.!?'#/-]{0,15}[A-Za-z0-9.!?]$/);
    const narrationLine = word.filter((w) => !w.startsWith('//') && w !== '---');
    const scene = fc
      .record({
        title: fc.option(word, { nil: null }),
        notes: fc.array(fc.option(word, { nil: '' }), { maxLength: 2 }),
        narrationLines: fc.array(narrationLine, { maxLength: 4 }),
      })
      .filter(
        (s) =>
          (s.title !== null || s.narrationLines.length > 0) &&
          (s.title !== null || !s.narrationLines[0]?.startsWith('# ')),
      );
    fc.assert(
      fc.property(fc.array(scene, { maxLength: 6 }), (scenes) => {
        const text = printScript(scenes);
        const parsed = parseScript(text).scenes;
        expect(
          parsed.map(({ title, notes, narrationLines }) => ({ title, notes, narrationLines })),
        ).toEqual(scenes);
        expect(printScript(parsed)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('splitSentences', () => {
  it('ends sentences at terminators and line breaks, not at abbreviations or initials', () => {
    expect(
      splitSentences(
        'Dr. Smith met J. R. Tolkien. "Really?" she asked! It was e.g. fun... Then\nA line without a stop\n\nThe end (almost.) Next one. It costs 3.50 now. see lower case.',
      ),
    ).toEqual([
      'Dr. Smith met J. R. Tolkien.',
      '"Really?"',
      'she asked!',
      'It was e.g. fun...',
      'Then',
      'A line without a stop',
      'The end (almost.)',
      'Next one.',
      'It costs 3.50 now. see lower case.',
    ]);
    expect(splitSentences('')).toEqual([]);
    expect(splitSentences('  \n ')).toEqual([]);
  });

  it('keeps every character but whitespace, in order, in trimmed one-line sentences (property)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc
        .array(
          fc.constantFrom('Hi.', ' ', 'Dr.', 'e.g.', '?', '!', '…', '\n', 'a', 'B', '"', ')'),
          {
            maxLength: 40,
          },
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(text, (narration) => {
        const sentences = splitSentences(narration);
        for (const sentence of sentences) {
          expect(sentence).not.toBe('');
          expect(sentence).toBe(sentence.trim());
          expect(sentence).not.toMatch(/\r|\n/);
        }
        const squeeze = (s: string) => s.replace(/\s+/gu, '');
        expect(squeeze(sentences.join(''))).toBe(squeeze(narration));
      }),
      { numRuns: 2000 },
    );
  });
});
