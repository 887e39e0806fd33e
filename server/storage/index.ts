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
// The S3 store's class is a type here: openStorage loads its module (and the AWS SDK, megabytes
// of heap) only for an s3:// STORAGE_URL. Import the class from its module.
export type { S3FileStorage, S3FileStorageOptions } from './s3-file-storage.ts';
