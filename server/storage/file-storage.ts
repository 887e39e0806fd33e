import type { Readable } from 'node:stream';

/** Size and modification time of a stored file. */
export interface StoredFileInfo {
  bytes: number;
  modifiedAt: Date;
}

/**
 * Where uploaded assets and rendered outputs live, by key (`assets/<projectId>/<id>.png`,
 * `renders/<projectId>/<id>.mp4`). Keys are relative, `/`-separated and never leave the
 * storage root. The default is a directory (STORAGE_DIR) that every API node and render worker
 * reaches (a local disk in embedded mode, a shared volume in a deployment).
 */
export interface FileStorage {
  /** Writes `data` under `key`, atomically: readers see the whole file or none. */
  write(key: string, data: Uint8Array): Promise<StoredFileInfo>;
  /** The file's size and time, or null when there is none. */
  stat(key: string): Promise<StoredFileInfo | null>;
  /** Reads bytes `start..end` (inclusive; default the whole file). */
  read(key: string, range?: { start: number; end: number }): Readable;
  /** Absolute path of a key, for FFmpeg and FFprobe, which read files. */
  localPath(key: string): string;
  /** Removes a file; no error when it is already gone. */
  remove(key: string): Promise<void>;
  /** Removes every file under `prefix/` (e.g. `assets/<projectId>`); no error when none. */
  removeAll(prefix: string): Promise<void>;
}
