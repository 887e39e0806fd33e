import { z } from 'zod';

/**
 * Where the first control character of `value` is: a C0 character (U+0000..U+001F) other than
 * tab, line feed and carriage return. -1 when there is none.
 */
export function controlCharacterIndex(value: string): number {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return i;
  }
  return -1;
}

function describeControlCharacter(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  const at = controlCharacterIndex(text);
  const code = text.charCodeAt(Math.max(0, at));
  return `must not contain control characters (U+${code.toString(16).toUpperCase().padStart(4, '0')} at index ${at}); tab and line breaks are allowed`;
}

/**
 * The check behind {@link text}, for string schemas that do not start from `z.string()`
 * (`z.url()`, ...): `z.url().check(noControlCharacters)`.
 */
export const noControlCharacters = z.refine<string>((value) => controlCharacterIndex(value) < 0, {
  error: (issue) => describeControlCharacter(issue.input),
  abort: true,
});

/**
 * A string of text from a client: any Unicode except C0 control characters other than tab,
 * line feed and carriage return. Every text field of every request schema starts here.
 *
 * Why: Postgres refuses U+0000 in `text` and `jsonb` (PGlite too), so a NUL that got through
 * validation failed the insert with a 500; the other C0 characters have no business in a
 * name, a title or a chat message and break terminals, logs and FFmpeg filters. The message
 * names the character and where it is; the validator prefixes the field.
 */
export const text = () => z.string().check(noControlCharacters);
