import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

export interface SegmentCacheOptions {
  /** Where encoded segments are kept. Created on first use. */
  dir: string;
  /** Segments kept at most; the least recently used go first. Default 400. */
  maxEntries?: number;
}

/** Bumped when the way segments are encoded changes, so old entries are never reused. */
const SEGMENT_FORMAT_VERSION = 1;

/**
 * Encoded video segments of renders, keyed by everything that decides their bytes: the
 * FFmpeg arguments and the content of every work file they name (scaled images, caption and
 * title files). A re-render after one scene's edit re-encodes that scene's segment only and
 * reuses the others; the segments join without re-encoding, so the output is the same as a
 * full encode. A local cache per worker: nothing is shared between machines, and losing it
 * only costs time.
 */
export class SegmentCache {
  readonly dir: string;
  readonly #maxEntries: number;

  constructor(options: SegmentCacheOptions) {
    if (!options?.dir) throw new TypeError('SegmentCache: dir is required');
    this.dir = options.dir;
    this.#maxEntries = options.maxEntries ?? 400;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer (got ${this.#maxEntries})`);
    }
  }

  /**
   * The key of a segment encoded with `args` in `cwd`: a hash over the arguments, `extra`
   * (the encoder binary, the font) and the content of every file of `cwd` the arguments name.
   */
  async key(args: readonly string[], cwd: string, extra: readonly string[] = []): Promise<string> {
    const hash = createHash('sha256');
    hash.update(JSON.stringify({ v: SEGMENT_FORMAT_VERSION, args, extra }));
    const joined = args.join('\u0000');
    const named = (await readdir(cwd)).filter((name) => joined.includes(name)).sort();
    for (const name of named) {
      hash.update(`\u0000${name}\u0000`);
      await new Promise<void>((resolve, reject) => {
        createReadStream(join(cwd, name))
          .on('data', (chunk) => hash.update(chunk))
          .on('end', () => resolve())
          .on('error', reject);
      });
    }
    return hash.digest('hex');
  }

  /** Copies the cached segment to `destination`; false when there is none. */
  async fetch(key: string, destination: string): Promise<boolean> {
    const path = this.#path(key);
    try {
      await copyFile(path, destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    // Recently used: kept longest.
    const now = new Date();
    await utimes(path, now, now).catch(() => {});
    return true;
  }

  /** Keeps a copy of `source` under `key` (atomically: a reader never sees half a file). */
  async store(key: string, source: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.${key}.${randomUUID()}.part`);
    try {
      await copyFile(source, temp);
      await rename(temp, this.#path(key));
    } finally {
      await rm(temp, { force: true });
    }
    await this.#prune();
  }

  #path(key: string): string {
    return join(this.dir, `${key}.mp4`);
  }

  /** Drops the least recently used segments beyond `maxEntries`. */
  async #prune(): Promise<void> {
    const names = (await readdir(this.dir)).filter((name) => name.endsWith('.mp4'));
    if (names.length <= this.#maxEntries) return;
    const dated = await Promise.all(
      names.map(async (name) => {
        const info = await stat(join(this.dir, name)).catch(() => null);
        return { name, at: info?.mtimeMs ?? 0 };
      }),
    );
    dated.sort((a, b) => a.at - b.at);
    for (const { name } of dated.slice(0, dated.length - this.#maxEntries)) {
      await rm(join(this.dir, name), { force: true });
    }
  }
}
