import type { Readable } from 'node:stream';

/** Size and modification time of a stored file. */
export interface StoredFileInfo {
  bytes: number;
  modifiedAt: Date;
}

/** One file of a {@link FileStorage.list}. */
export interface StoredFile extends StoredFileInfo {
  key: string;
}

export interface WriteOptions {
  /** `Content-Type` kept with the object (S3); the local directory ignores it. */
  contentType?: string | undefined;
}

export interface UploadOptions extends WriteOptions {
  /**
   * The source file is the caller's to give away (a finished render in a scratch directory):
   * the local directory renames it instead of copying. Default false: the source stays.
   */
  move?: boolean | undefined;
}

export interface SignedUrlOptions {
  /** When the URL stops working (the same expiry as the render link that led to it). */
  expiresAt: Date;
  contentType?: string | undefined;
  /** `Content-Disposition` file name. */
  fileName?: string | undefined;
}

/**
 * Where every file lives, by key (`assets/<projectId>/<id>.png`, `renders/<projectId>/<id>.mp4`):
 * uploads, pipeline artifacts, render outputs and thumbnails. Keys are relative, `/`-separated
 * and never leave the storage root. Two backends: a directory (STORAGE_DIR, the embedded
 * default) and S3-compatible object storage (STORAGE_URL=s3://bucket/prefix), which API nodes
 * and render workers on different machines share. Nothing outside a backend touches its files
 * directly: a process that needs a file on disk (FFmpeg) takes a {@link localCopy} into its own
 * scratch directory and hands results back through {@link upload}.
 *
 * Every write is atomic: a reader sees the whole file or none, never a part.
 */
export interface FileStorage {
  /** Which backend: `local` or `s3`. */
  readonly kind: 'local' | 's3';
  /** Writes `data` (bytes or a stream) under `key`. */
  write(key: string, data: Uint8Array | Readable, options?: WriteOptions): Promise<StoredFileInfo>;
  /** Stores the local file at `path` under `key` (multipart on S3 for large files). */
  upload(key: string, path: string, options?: UploadOptions): Promise<StoredFileInfo>;
  /** The file's size and time, or null when there is none. */
  stat(key: string): Promise<StoredFileInfo | null>;
  /** Reads bytes `start..end` (inclusive; default the whole file). Errors arrive on the stream. */
  read(key: string, range?: { start: number; end: number }): Readable;
  /**
   * Downloads `key` to the local file `path` (its directory is created), for FFmpeg and FFprobe,
   * which read files. Throws when there is no such file.
   */
  localCopy(key: string, path: string): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  remove(key: string): Promise<void>;
  /** Removes every file under `prefix/` (e.g. `assets/<projectId>`); no error when none. */
  removeAll(prefix: string): Promise<void>;
  /** Every file under `prefix/` (`''`: all), in no particular order. */
  list(prefix: string): AsyncIterable<StoredFile>;
  /**
   * A URL that serves the file directly until `expiresAt`, or null when the backend cannot sign
   * one (the local directory): the caller then serves the bytes itself.
   */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string | null>;
  /** Releases the backend's connections. Safe to call twice. */
  close(): Promise<void>;
}

/** Letters, digits, `-`, `_` and `.` in `/`-separated segments; no `..`, no leading `/`. */
const KEY = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/** Throws a RangeError unless `key` is a valid storage key (both backends check the same way). */
export function checkStorageKey(key: string): string {
  if (!KEY.test(key)) throw new RangeError(`invalid storage key: ${JSON.stringify(key)}`);
  return key;
}
