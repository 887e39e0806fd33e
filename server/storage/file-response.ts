import { Readable } from 'node:stream';
import { DomainError, notFound } from '../errors.ts';
import type { FileStorage } from './file-storage.ts';

/**
 * `range_not_satisfiable`: the `Range` asks for bytes past the end; `size` is the file's length,
 * which HTTP sends back in `Content-Range` (RFC 9110 §15.5.17).
 */
export class RangeNotSatisfiableError extends DomainError {
  override name = 'RangeNotSatisfiableError';
  constructor(readonly size: number) {
    super('range_not_satisfiable', `Range: outside the file (${size} bytes)`);
  }
}

export interface FileResponseOptions {
  contentType: string;
  /** The request's `Range` header. */
  range?: string | undefined;
  /** `HEAD` sends the headers only. */
  method?: string;
  /** `Content-Disposition` file name. */
  fileName?: string;
}

/**
 * A stored file as an HTTP response with byte ranges (RFC 9110 §14): `Range: bytes=a-b`,
 * `bytes=a-` and `bytes=-n` get a 206 with `Content-Range`; a range past the end a 416; no
 * or a multi-range header the whole file (multipart/byteranges is not worth it for video).
 */
export async function fileResponse(
  storage: FileStorage,
  key: string,
  options: FileResponseOptions,
): Promise<Response> {
  const info = await storage.stat(key);
  if (!info) throw notFound('File');
  const size = info.bytes;
  const headers = new Headers({
    'Content-Type': options.contentType,
    'Accept-Ranges': 'bytes',
    'Last-Modified': info.modifiedAt.toUTCString(),
    'Cache-Control': 'private, max-age=3600',
  });
  if (options.fileName) {
    headers.set('Content-Disposition', `inline; filename="${options.fileName}"`);
  }
  const range = options.range ? parseRange(options.range, size) : undefined;
  if (range === 'unsatisfiable') {
    throw new RangeNotSatisfiableError(size);
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = size === 0 ? 0 : end - start + 1;
  headers.set('Content-Length', String(length));
  if (range) headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
  const status = range ? 206 : 200;
  if (options.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
  const stream = Readable.toWeb(storage.read(key, { start, end })) as ReadableStream<Uint8Array>;
  return new Response(stream, { status, headers });
}

/** One `bytes=` range, resolved against `size`; undefined when the header is not one we serve. */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
