import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  checkStorageKey,
  type FileStorage,
  type StoredFile,
  type StoredFileInfo,
  type UploadOptions,
} from './file-storage.ts';

/** Temporary files of writes in flight end in this; {@link LocalFileStorage.list} skips them. */
const PART_SUFFIX = '.part';

/** {@link FileStorage} in a directory (STORAGE_DIR, default `DATA_DIR/storage`). */
export class LocalFileStorage implements FileStorage {
  readonly kind = 'local' as const;
  readonly root: string;

  constructor(options: { root: string }) {
    if (!options?.root) throw new TypeError('LocalFileStorage: root is required');
    this.root = resolve(options.root);
  }

  /** Absolute path of a key (this backend only; tests and tools that look at the directory). */
  localPath(key: string): string {
    checkStorageKey(key);
    const path = join(this.root, ...key.split('/'));
    // The pattern already rules out `..`; this is the belt to its braces.
    if (!path.startsWith(this.root + sep)) throw new RangeError(`storage key escapes the root`);
    return path;
  }

  async write(key: string, data: Uint8Array | Readable): Promise<StoredFileInfo> {
    return this.#atomically(key, async (temporary) => {
      if (data instanceof Uint8Array) await writeFile(temporary, data, { flag: 'wx' });
      else await pipeline(data, createWriteStream(temporary, { flags: 'wx' }));
    });
  }

  async upload(key: string, path: string, options: UploadOptions = {}): Promise<StoredFileInfo> {
    if (options.move) {
      const target = this.localPath(key);
      await mkdir(dirname(target), { recursive: true });
      try {
        // A rename is atomic, and free when the scratch directory is on the same file system.
        await rename(path, target);
        return this.#info(target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      }
    }
    const info = await this.#atomically(key, (temporary) => copyFile(path, temporary));
    if (options.move) await rm(path, { force: true });
    return info;
  }

  async stat(key: string): Promise<StoredFileInfo | null> {
    try {
      const info = await stat(this.localPath(key));
      return info.isFile() ? { bytes: info.size, modifiedAt: info.mtime } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.localPath(key), range ?? {});
  }

  async localCopy(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await copyFile(this.localPath(key), path);
  }

  async remove(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async removeAll(prefix: string): Promise<void> {
    // localPath checks the prefix like a key, so it cannot name the root or leave it.
    await rm(this.localPath(prefix), { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<StoredFile> {
    const start = prefix === '' ? this.root : this.localPath(prefix);
    let entries: string[];
    try {
      entries = await readdir(start, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(start, entry);
      const key = relative(this.root, path).split(sep).join('/');
      if (key.endsWith(PART_SUFFIX)) continue;
      const info = await stat(path).catch(() => null);
      if (info?.isFile()) yield { key, bytes: info.size, modifiedAt: info.mtime };
    }
  }

  async signedUrl(): Promise<null> {
    return null;
  }

  async close(): Promise<void> {}

  async #atomically(key: string, fill: (temporary: string) => Promise<unknown>) {
    const path = this.localPath(key);
    await mkdir(dirname(path), { recursive: true });
    // Same directory, so the rename is atomic: a reader never sees a half-written file.
    const temporary = `${path}.${randomUUID()}${PART_SUFFIX}`;
    try {
      await fill(temporary);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return this.#info(path);
  }

  async #info(path: string): Promise<StoredFileInfo> {
    const info = await stat(path);
    return { bytes: info.size, modifiedAt: info.mtime };
  }
}
