/** An uploaded asset as the renderer needs it. */
export interface ResolvedAsset {
  id: string;
  kind: 'image' | 'audio';
  /** Absolute path of the stored file. */
  path: string;
}

/**
 * Turns the asset ids of a render spec into files. The server implements it over its assets
 * table and storage; a missing asset, or one of another project, resolves to null.
 */
export interface AssetResolver {
  resolve(projectId: string, assetId: string): Promise<ResolvedAsset | null>;
}
