import { isAbsolute, join, resolve, sep } from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { AssetResolver, ResolvedAsset } from '../../render-farm/index.ts';
import type { Db } from '../db/index.ts';
import { assets } from '../db/schema/renders.ts';

export interface DbAssetResolverOptions {
  db: Db;
  /** STORAGE_DIR: asset paths are keys under it. */
  storageDir: string;
}

/** {@link AssetResolver} over the `assets` table: an asset of another project is not found. */
export class DbAssetResolver implements AssetResolver {
  private readonly db: Db;
  private readonly root: string;

  constructor(options: DbAssetResolverOptions) {
    if (!options?.db) throw new TypeError('DbAssetResolver: db is required');
    if (!options.storageDir) throw new TypeError('DbAssetResolver: storageDir is required');
    this.db = options.db;
    this.root = resolve(options.storageDir);
  }

  async resolve(projectId: string, assetId: string): Promise<ResolvedAsset | null> {
    const [row] = await this.db
      .select({ id: assets.id, kind: assets.kind, path: assets.path })
      .from(assets)
      .where(and(eq(assets.id, assetId), eq(assets.projectId, projectId)));
    // Subtitles and script text are no render inputs.
    if (!row || (row.kind !== 'image' && row.kind !== 'audio')) return null;
    const path = resolve(this.root, row.path);
    // A key never leaves the storage directory, whatever the row says.
    if (isAbsolute(row.path) || !path.startsWith(this.root + sep)) return null;
    return { id: row.id, kind: row.kind, path: join(path) };
  }
}
