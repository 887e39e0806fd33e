export type { FileResponseOptions } from './file-response.ts';
export { fileResponse, parseRange, RangeNotSatisfiableError } from './file-response.ts';
export type {
  FileStorage,
  SignedUrlOptions,
  StoredFile,
  StoredFileInfo,
  UploadOptions,
  WriteOptions,
} from './file-storage.ts';
export { checkStorageKey } from './file-storage.ts';
export { LocalFileStorage } from './local-file-storage.ts';
export type { OrphanSweepOptions } from './orphan-sweep.ts';
export { orphanSweepPass } from './orphan-sweep.ts';
export type { S3FileStorageOptions } from './s3-file-storage.ts';
export { parseS3Url, S3FileStorage } from './s3-file-storage.ts';
