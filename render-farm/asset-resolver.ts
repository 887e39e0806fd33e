/** An uploaded asset as the renderer needs it. */
export interface ResolvedAsset {
  id: string;
  kind: 'image' | 'audio';
  /** Absolute path of a local copy of the file. */
  path: string;
}

/**
 * Turns the asset ids of a render spec into files. The worker pool implements it per job over
 * an {@link AssetLocator} and the storage, downloading each input into the job's scratch
 * directory; a missing asset, or one of another project, resolves to null.
 */
export interface AssetResolver {
  resolve(projectId: string, assetId: string): Promise<ResolvedAsset | null>;
}

/** An asset where the storage keeps it. */
export interface StoredAsset {
  id: string;
  kind: 'image' | 'audio';
  /** Storage key (`assets/<projectId>/<id>.png`). */
  key: string;
}

/**
 * Finds the stored file of an asset id. The server implements it over its assets table; a
 * missing asset, or one of another project, is null.
 */
export interface AssetLocator {
  locate(projectId: string, assetId: string): Promise<StoredAsset | null>;
}

/**
 * What a worker needs of the file storage (the server's `FileStorage` fits): inputs come down
 * into the worker's own scratch directory, finished outputs go up. A worker never writes into
 * a directory another process reads.
 */
export interface RenderFiles {
  /** Downloads `key` to the local `path`. */
  localCopy(key: string, path: string): Promise<void>;
  /** Stores the finished local file under `key`; visible to readers only once complete. */
  upload(
    key: string,
    path: string,
    options?: { contentType?: string; move?: boolean },
  ): Promise<unknown>;
}
