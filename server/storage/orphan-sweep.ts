import { inArray } from 'drizzle-orm';
import type { Db } from '../db/index.ts';
import { assets, renderJobs } from '../db/schema/renders.ts';
import type { ReconcilePass, Repair } from '../reconciler/index.ts';
import type { FileStorage, StoredFile } from './file-storage.ts';

export interface OrphanSweepOptions {
  db: Db;
  storage: FileStorage;
  /**
   * Files younger than this are never removed (STORAGE_SWEEP_GRACE): an upload is stored before
   * its asset row is inserted, a render's outputs before its verdict. Default 1 h.
   */
  graceMs?: number;
  /** Keys looked up in the database at once. Default 500. */
  batchSize?: number;
}

/** The prefixes the sweep looks under; nothing else in the storage is the service's to remove. */
const SWEPT_PREFIXES = ['assets', 'renders'] as const;

/**
 * A reconcile pass over the file storage: removes files under `assets/` and `renders/` that no
 * row refers to (uploads whose row never got inserted, outputs of renders that died or were
 * deleted half-way) once they are older than the grace period. An asset file is referred to by
 * its `assets.path`; a render file by the render row of its id while that render is unfinished
 * (a retry overwrites it) or by the row's `video_key`/`thumbnail_key`. Safe on several nodes at
 * once: removing a file twice is no error.
 */
export function orphanSweepPass(options: OrphanSweepOptions): ReconcilePass {
  const { db, storage } = options;
  const graceMs = options.graceMs ?? 3600_000;
  const batchSize = options.batchSize ?? 500;
  return {
    name: 'storage',
    async run(now) {
      const repairs: Repair[] = [];
      for (const prefix of SWEPT_PREFIXES) {
        let batch: StoredFile[] = [];
        const flush = async () => {
          const files = batch;
          batch = [];
          const referenced =
            prefix === 'assets'
              ? await referencedAssets(db, files)
              : await referencedRenders(db, files);
          for (const file of files) {
            if (referenced.has(file.key)) continue;
            await storage.remove(file.key);
            repairs.push({ kind: 'storage', id: file.key, action: 'removed-orphan' });
          }
        };
        for await (const file of storage.list(prefix)) {
          if (now.getTime() - file.modifiedAt.getTime() < graceMs) continue;
          batch.push(file);
          if (batch.length >= batchSize) await flush();
        }
        if (batch.length > 0) await flush();
      }
      return repairs;
    },
  };
}

async function referencedAssets(db: Db, files: StoredFile[]): Promise<Set<string>> {
  const rows = await db
    .select({ path: assets.path })
    .from(assets)
    .where(
      inArray(
        assets.path,
        files.map((file) => file.key),
      ),
    );
  return new Set(rows.map((row) => row.path));
}

/** `renders/<projectId>/<renderId>.<ext>` → the render id, or undefined for another name. */
function renderIdOf(key: string): string | undefined {
  return /^renders\/[^/]+\/([0-9a-f-]{36})\.[a-z0-9]+$/.exec(key)?.[1];
}

async function referencedRenders(db: Db, files: StoredFile[]): Promise<Set<string>> {
  const ids = [
    ...new Set(files.map((file) => renderIdOf(file.key)).filter((id) => id !== undefined)),
  ];
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({
      id: renderJobs.id,
      status: renderJobs.status,
      videoKey: renderJobs.videoKey,
      thumbnailKey: renderJobs.thumbnailKey,
    })
    .from(renderJobs)
    .where(inArray(renderJobs.id, ids));
  const byId = new Map(rows.map((row) => [row.id, row]));
  const referenced = new Set<string>();
  for (const file of files) {
    const row = byId.get(renderIdOf(file.key) ?? '');
    if (!row) continue;
    const unfinished = row.status === 'queued' || row.status === 'running';
    if (unfinished || row.videoKey === file.key || row.thumbnailKey === file.key) {
      referenced.add(file.key);
    }
  }
  return referenced;
}
