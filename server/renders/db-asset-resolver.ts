import { and, eq } from 'drizzle-orm';
import type { AssetLocator, StoredAsset } from '../../render-farm/index.ts';
import type { Db } from '../db/index.ts';
import { assets } from '../db/schema/renders.ts';
import { checkStorageKey } from '../storage/index.ts';

export interface DbAssetResolverOptions {
  db: Db;
}

/** {@link AssetLocator} over the `assets` table: an asset of another project is not found. */
export class DbAssetResolver implements AssetLocator {
  private readonly db: Db;

  constructor(options: DbAssetResolverOptions) {
    if (!options?.db) throw new TypeError('DbAssetResolver: db is required');
    this.db = options.db;
  }

  async locate(projectId: string, assetId: string): Promise<StoredAsset | null> {
    const [row] = await this.db
      .select({ id: assets.id, kind: assets.kind, path: assets.path })
      .from(assets)
      .where(and(eq(assets.id, assetId), eq(assets.projectId, projectId)));
    // Subtitles and script text are no render inputs.
    if (!row || (row.kind !== 'image' && row.kind !== 'audio')) return null;
    // A key never leaves the storage root, whatever the row says.
    try {
      checkStorageKey(row.path);
    } catch {
      return null;
    }
    return { id: row.id, kind: row.kind, key: row.path };
  }
}
