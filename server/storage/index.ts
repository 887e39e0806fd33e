export type { FileResponseOptions } from './file-response.ts';
export { fileResponse, parseRange, RangeNotSatisfiableError } from './file-response.ts';
export type { FileStorage, StoredFileInfo } from './file-storage.ts';
export { LocalFileStorage } from './local-file-storage.ts';
