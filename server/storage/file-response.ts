import { Readable } from 'node:stream';
import { ApiError } from '../errors.ts';
import type { FileStorage } from './file-storage.ts';

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
  if (!info) throw new ApiError(404, 'not_found', 'File not found');
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
    throw new ApiError(
      416,
      'range_not_satisfiable',
      `Range: outside the file (${size} bytes)`,
      undefined,
      {
        'Content-Range': `bytes */${size}`,
      },
    );
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
