import { randomUUID } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { fileTypeFromBuffer } from 'file-type';
import { probeMedia } from '../../render-farm/index.ts';
import {
  ASSET_MEDIA_TYPES,
  type Asset,
  type AssetKind,
  type AssetMediaType,
  MAX_AUDIO_BYTES,
  MAX_IMAGE_BYTES,
  MAX_IMAGE_SIDE,
} from '../../shared/assets.ts';
import type { Db } from '../db/index.ts';
import { assets } from '../db/schema/renders.ts';
import { ApiError, badRequest } from '../errors.ts';
import { newestFirst, page } from '../pagination.ts';
import type { FileStorage } from '../storage/index.ts';

export type AssetRow = typeof assets.$inferSelect;

export interface AssetServiceOptions {
  db: Db;
  storage: FileStorage;
  /** FFprobe binary; every upload is probed before it is accepted. */
  ffprobePath: string;
}

const EXTENSIONS: Record<AssetMediaType, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'audio/wav': 'wav',
  'audio/mpeg': 'mp3',
};

export function toAssetWire(row: AssetRow): Asset {
  return {
    id: row.id,
    projectId: row.projectId,
    kind: row.kind,
    mediaType: row.mime as AssetMediaType,
    bytes: row.bytes,
    width: row.width,
    height: row.height,
    durationSec: row.durationSec,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * Uploaded images and audio of a project. The type comes from the bytes (file-type's magic
 * numbers), then FFprobe must be able to read the file: a renamed text file or a truncated
 * image is refused here instead of failing a render later.
 */
export class AssetService {
  private readonly db: Db;
  private readonly storage: FileStorage;
  private readonly ffprobePath: string;

  constructor(options: AssetServiceOptions) {
    if (!options?.db) throw new TypeError('AssetService: db is required');
    if (!options.storage) throw new TypeError('AssetService: storage is required');
    if (!options.ffprobePath) throw new TypeError('AssetService: ffprobePath is required');
    this.db = options.db;
    this.storage = options.storage;
    this.ffprobePath = options.ffprobePath;
  }

  /** Stores an upload of the project (access is checked by the caller). */
  async upload(input: { projectId: string; userId: string; bytes: Uint8Array }): Promise<Asset> {
    const { projectId, userId, bytes } = input;
    if (bytes.byteLength === 0) throw badRequest('file: is empty');
    const detected = await fileTypeFromBuffer(bytes);
    const mediaType = detected?.mime as AssetMediaType | undefined;
    const kind: AssetKind | undefined = mediaType ? ASSET_MEDIA_TYPES[mediaType] : undefined;
    if (!mediaType || !kind) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        `file: must be a PNG or JPEG image or a WAV or MP3 file (the content is ${detected?.mime ?? 'not a known type'})`,
      );
    }
    const limit = kind === 'image' ? MAX_IMAGE_BYTES : MAX_AUDIO_BYTES;
    if (bytes.byteLength > limit) {
      throw new ApiError(
        413,
        'payload_too_large',
        `file: ${kind} uploads are limited to ${limit} bytes`,
      );
    }

    const id = randomUUID();
    const key = `assets/${projectId}/${id}.${EXTENSIONS[mediaType]}`;
    await this.storage.write(key, bytes);
    try {
      const media = await probeMedia(this.ffprobePath, this.storage.localPath(key)).catch(
        () => null,
      );
      if (kind === 'image') {
        if (!media?.width || !media.height)
          throw badRequest(`file: the ${mediaType} image cannot be decoded`);
        if (media.width > MAX_IMAGE_SIDE || media.height > MAX_IMAGE_SIDE) {
          throw badRequest(`file: images are limited to ${MAX_IMAGE_SIDE} pixels per side`);
        }
      } else if (!media?.hasAudio || !media.durationSec) {
        throw badRequest(`file: the ${mediaType} audio cannot be decoded`);
      }
      const [row] = await this.db
        .insert(assets)
        .values({
          id,
          projectId,
          kind,
          mime: mediaType,
          bytes: bytes.byteLength,
          path: key,
          durationSec: kind === 'audio' ? media.durationSec : null,
          width: kind === 'image' ? media.width : null,
          height: kind === 'image' ? media.height : null,
          createdBy: userId,
          createdAt: new Date(),
        })
        .returning();
      return toAssetWire(row!);
    } catch (error) {
      await this.storage.remove(key);
      throw error;
    }
  }

  async list(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    const order = newestFirst(assets.createdAt, assets.id, query.cursor);
    const rows = await this.db
      .select()
      .from(assets)
      .where(and(eq(assets.projectId, projectId), order.where))
      .orderBy(...order.orderBy)
      .limit(query.limit + 1);
    const result = page(rows, query.limit);
    return { assets: result.items.map(toAssetWire), nextCursor: result.nextCursor };
  }

  /** Assets of the project by id (others and unknown ids are left out). */
  async find(projectId: string, ids: string[]): Promise<Map<string, AssetRow>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .select()
      .from(assets)
      .where(and(eq(assets.projectId, projectId), inArray(assets.id, [...new Set(ids)])));
    return new Map(rows.map((row) => [row.id, row]));
  }
}
