import { readFileSync } from 'node:fs';

/**
 * Horizontal metrics of a TrueType font, read from its `cmap`, `hmtx`, `hhea` and `head`
 * tables, so text can be wrapped and sized to fit before FFmpeg draws it (FFmpeg's drawtext
 * neither wraps nor shrinks). Kerning is ignored: it moves a line by a pixel or two, and the
 * layouts that use this keep a margin.
 */
export class FontMetrics {
  /** Distance from the baseline to the top of the tallest glyphs, in em. */
  readonly ascent: number;
  /** Distance from the baseline down to the lowest glyphs, in em (positive). */
  readonly descent: number;
  readonly #unitsPerEm: number;
  readonly #advances: Uint16Array;
  readonly #glyphOf: (codePoint: number) => number;
  readonly #cache = new Map<number, number>();

  private constructor(font: Buffer) {
    const tables = readTableDirectory(font);
    const head = tables.get('head');
    const hhea = tables.get('hhea');
    const hmtx = tables.get('hmtx');
    const cmap = tables.get('cmap');
    if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
      throw new Error('not a TrueType font: head, hhea, hmtx or cmap table missing');
    }
    this.#unitsPerEm = font.readUInt16BE(head + 18);
    this.ascent = font.readInt16BE(hhea + 4) / this.#unitsPerEm;
    this.descent = -font.readInt16BE(hhea + 6) / this.#unitsPerEm;
    const count = font.readUInt16BE(hhea + 34);
    this.#advances = new Uint16Array(count);
    for (let i = 0; i < count; i++) this.#advances[i] = font.readUInt16BE(hmtx + i * 4);
    this.#glyphOf = readCharacterMap(font, cmap);
  }

  /** Reads a `.ttf` file. Throws when it is not a TrueType font with a Unicode character map. */
  static load(path: string): FontMetrics {
    return new FontMetrics(readFileSync(path));
  }

  /**
   * Advance width of a string at `fontSize` pixels. Characters the font lacks count as its
   * missing-glyph box, which is what FreeType draws for them.
   */
  width(text: string, fontSize: number): number {
    let units = 0;
    for (const char of text) units += this.#advance(char.codePointAt(0) ?? 0);
    return (units / this.#unitsPerEm) * fontSize;
  }

  #advance(codePoint: number): number {
    let advance = this.#cache.get(codePoint);
    if (advance === undefined) {
      const glyph = this.#glyphOf(codePoint);
      // Glyphs past the last full metric share its advance (the hmtx table's rule).
      advance = this.#advances[Math.min(glyph, this.#advances.length - 1)] ?? 0;
      this.#cache.set(codePoint, advance);
    }
    return advance;
  }
}

function readTableDirectory(font: Buffer): Map<string, number> {
  const tables = new Map<string, number>();
  const count = font.readUInt16BE(4);
  for (let i = 0; i < count; i++) {
    const record = 12 + i * 16;
    tables.set(font.toString('latin1', record, record + 4), font.readUInt32BE(record + 8));
  }
  return tables;
}

/** The Unicode character map: format 12 (full range) when present, else format 4 (BMP). */
function readCharacterMap(font: Buffer, cmap: number): (codePoint: number) => number {
  const subtables = new Map<string, number>();
  const count = font.readUInt16BE(cmap + 2);
  for (let i = 0; i < count; i++) {
    const record = cmap + 4 + i * 8;
    const key = `${font.readUInt16BE(record)}/${font.readUInt16BE(record + 2)}`;
    subtables.set(key, cmap + font.readUInt32BE(record + 4));
  }
  const full = subtables.get('3/10') ?? subtables.get('0/4');
  if (full !== undefined && font.readUInt16BE(full) === 12) return format12(font, full);
  const bmp = subtables.get('3/1') ?? subtables.get('0/3');
  if (bmp !== undefined && font.readUInt16BE(bmp) === 4) return format4(font, bmp);
  throw new Error('the font has no Unicode character map (cmap format 4 or 12)');
}

function format12(font: Buffer, table: number): (codePoint: number) => number {
  const groups = font.readUInt32BE(table + 12);
  return (codePoint) => {
    for (let i = 0; i < groups; i++) {
      const group = table + 16 + i * 12;
      const start = font.readUInt32BE(group);
      if (codePoint < start) return 0;
      if (codePoint <= font.readUInt32BE(group + 4)) {
        return font.readUInt32BE(group + 8) + (codePoint - start);
      }
    }
    return 0;
  };
}

function format4(font: Buffer, table: number): (codePoint: number) => number {
  const segments = font.readUInt16BE(table + 6) / 2;
  const ends = table + 14;
  const starts = ends + segments * 2 + 2;
  const deltas = starts + segments * 2;
  const rangeOffsets = deltas + segments * 2;
  return (codePoint) => {
    if (codePoint > 0xffff) return 0;
    for (let i = 0; i < segments; i++) {
      if (codePoint > font.readUInt16BE(ends + i * 2)) continue;
      const start = font.readUInt16BE(starts + i * 2);
      if (codePoint < start) return 0;
      const delta = font.readUInt16BE(deltas + i * 2);
      const rangeOffsetAt = rangeOffsets + i * 2;
      const rangeOffset = font.readUInt16BE(rangeOffsetAt);
      if (rangeOffset === 0) return (codePoint + delta) & 0xffff;
      // idRangeOffset is relative to its own position in the table (the spec's pointer trick).
      const glyph = font.readUInt16BE(rangeOffsetAt + rangeOffset + (codePoint - start) * 2);
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}
