import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { FileStorage, StoredFileInfo } from './file-storage.ts';

/** Letters, digits, `-`, `_` and `.` in `/`-separated segments; no `..`, no leading `/`. */
const KEY = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/** {@link FileStorage} in a directory (STORAGE_DIR, default `DATA_DIR/storage`). */
export class LocalFileStorage implements FileStorage {
  readonly root: string;

  constructor(options: { root: string }) {
    if (!options?.root) throw new TypeError('LocalFileStorage: root is required');
    this.root = resolve(options.root);
  }

  localPath(key: string): string {
    if (!KEY.test(key)) throw new RangeError(`invalid storage key: ${JSON.stringify(key)}`);
    const path = join(this.root, ...key.split('/'));
    // The pattern already rules out `..`; this is the belt to its braces.
    if (!path.startsWith(this.root + sep)) throw new RangeError(`storage key escapes the root`);
    return path;
  }

  async write(key: string, data: Uint8Array): Promise<StoredFileInfo> {
    const path = this.localPath(key);
    await mkdir(dirname(path), { recursive: true });
    // Same directory, so the rename is atomic: a reader never sees a half-written file.
    const temporary = `${path}.${randomUUID()}.part`;
    try {
      await writeFile(temporary, data, { flag: 'wx' });
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { bytes: data.byteLength, modifiedAt: new Date() };
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

  async remove(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async removeAll(prefix: string): Promise<void> {
    // localPath checks the prefix like a key, so it cannot name the root or leave it.
    await rm(this.localPath(prefix), { recursive: true, force: true });
  }
}
