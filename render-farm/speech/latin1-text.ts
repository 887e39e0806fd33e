const TYPOGRAPHY: Record<string, string> = {
  '‘': "'",
  '’': "'",
  '‚': "'",
  '“': '"',
  '”': '"',
  '„': '"',
  '–': ', ',
  '—': ', ',
  '…': '...',
  '\u00a0': ' ',
};

/**
 * Text as Festival and flite can read it: they take bytes as ISO-8859-1, so UTF-8 `café` would
 * be read as `cafÃ©`. Typographic quotes, dashes and ellipses become their ASCII forms, other
 * characters outside Latin-1 lose their accents (NFKD) or become spaces.
 */
export function toLatin1(text: string): Buffer {
  let plain = '';
  for (const char of text.normalize('NFC')) {
    const mapped = TYPOGRAPHY[char];
    if (mapped !== undefined) plain += mapped;
    else if (char.codePointAt(0)! <= 0xff) plain += char;
    else {
      const base = char.normalize('NFKD').replace(/\p{M}/gu, '');
      plain += [...base].every((c) => c.codePointAt(0)! <= 0xff) ? base : ' ';
    }
  }
  return Buffer.from(plain, 'latin1');
}
