import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import { fileTypeFromBuffer } from 'file-type';
import { bytesPerPixel, probeMedia } from '../../render-farm/index.ts';
import {
  ASSET_MEDIA_TYPES,
  type Asset,
  type AssetKind,
  type AssetMediaType,
  MAX_AUDIO_BYTES,
  MAX_IMAGE_BYTES,
  MAX_IMAGE_DECODED_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_IMAGE_SIDE,
} from '../../shared/assets.ts';
import type { Db } from '../db/index.ts';
import { assets } from '../db/schema/renders.ts';
import { badRequest, DomainError } from '../errors.ts';
import { newestFirst, page } from '../pagination.ts';
import type { FileStorage } from '../storage/index.ts';
import { bytesAfterImageEnd } from './image-trailer.ts';

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
  'text/vtt': 'vtt',
  'text/plain': 'txt',
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
    if (!mediaType || (kind !== 'image' && kind !== 'audio')) {
      throw new DomainError(
        'unsupported_media_type',
        `file: must be a PNG or JPEG image or a WAV or MP3 file (the content is ${detected?.mime ?? 'not a known type'})`,
      );
    }
    const trailer = bytesAfterImageEnd(bytes, mediaType);
    if (trailer !== 0) {
      throw badRequest(
        trailer < 0
          ? 'file: the image is truncated (its data ends before the image does)'
          : `file: ${trailer} bytes follow the end of the image; upload the image alone`,
      );
    }
    const limit = kind === 'image' ? MAX_IMAGE_BYTES : MAX_AUDIO_BYTES;
    if (bytes.byteLength > limit) {
      throw new DomainError(
        'payload_too_large',
        `file: ${kind} uploads are limited to ${limit} bytes`,
      );
    }

    const id = randomUUID();
    const key = `assets/${projectId}/${id}.${EXTENSIONS[mediaType]}`;
    await this.storage.write(key, bytes, { contentType: mediaType });
    try {
      const media = await this.probeBytes(bytes, EXTENSIONS[mediaType]);
      if (kind === 'image') {
        if (!media?.width || !media.height)
          throw badRequest(`file: the ${mediaType} image cannot be decoded`);
        if (media.width > MAX_IMAGE_SIDE || media.height > MAX_IMAGE_SIDE) {
          throw badRequest(`file: images are limited to ${MAX_IMAGE_SIDE} pixels per side`);
        }
        // What decoding costs, whatever the file's size: renders decode the whole image.
        const decoded = media.width * media.height * bytesPerPixel(media.pixelFormat);
        if (media.width * media.height > MAX_IMAGE_PIXELS || decoded > MAX_IMAGE_DECODED_BYTES) {
          throw badRequest(
            `file: images may decode to at most ${MAX_IMAGE_PIXELS} pixels and ${MAX_IMAGE_DECODED_BYTES} bytes (this one: ${media.width}×${media.height} ${media.pixelFormat ?? 'of an unknown format'}, ${decoded} bytes)`,
          );
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

  /**
   * FFprobe on the upload, from a copy in the OS temporary directory: the storage may be a
   * bucket, and FFprobe reads files. Null when it cannot be decoded.
   */
  private async probeBytes(bytes: Uint8Array, extension: string) {
    const directory = await mkdtemp(join(tmpdir(), 'reelroom-probe-'));
    try {
      const path = join(directory, `upload.${extension}`);
      await writeFile(path, bytes);
      return await probeMedia(this.ffprobePath, path).catch(() => null);
    } finally {
      await rm(directory, { recursive: true, force: true });
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

  /** One asset by id, of any project (the caller checks access to its project). */
  async get(assetId: string): Promise<AssetRow | null> {
    const [row] = await this.db.select().from(assets).where(eq(assets.id, assetId));
    return row ?? null;
  }

  /** The newest asset of the project with this cache key (a pipeline voice-over), if any. */
  async findByCacheKey(projectId: string, cacheKey: string): Promise<AssetRow | null> {
    const [row] = await this.db
      .select()
      .from(assets)
      .where(and(eq(assets.projectId, projectId), eq(assets.cacheKey, cacheKey)))
      .orderBy(desc(assets.createdAt))
      .limit(1);
    return row ?? null;
  }

  /** The newest uploaded image of the project (a background for thumbnails and renders). */
  async latestUploadedImage(projectId: string): Promise<AssetRow | null> {
    const [row] = await this.db
      .select()
      .from(assets)
      .where(and(eq(assets.projectId, projectId), eq(assets.kind, 'image'), isNull(assets.source)))
      .orderBy(desc(assets.createdAt))
      .limit(1);
    return row ?? null;
  }

  /**
   * Records a file a pipeline step made (already written at `key` in storage): its row, with
   * what the step measured. The step is named in `source`; uploads have none.
   */
  async recordGenerated(input: {
    id?: string;
    projectId: string;
    userId: string | null;
    key: string;
    mediaType: AssetMediaType;
    source: string;
    bytes: number;
    durationSec?: number | null;
    width?: number | null;
    height?: number | null;
    cacheKey?: string | null;
    meta?: Record<string, unknown> | null;
  }): Promise<AssetRow> {
    const [row] = await this.db
      .insert(assets)
      .values({
        id: input.id ?? randomUUID(),
        projectId: input.projectId,
        kind: ASSET_MEDIA_TYPES[input.mediaType],
        mime: input.mediaType,
        bytes: input.bytes,
        path: input.key,
        durationSec: input.durationSec ?? null,
        width: input.width ?? null,
        height: input.height ?? null,
        createdBy: input.userId,
        createdAt: new Date(),
        source: input.source,
        cacheKey: input.cacheKey ?? null,
        meta: input.meta ?? null,
      })
      .returning();
    return row!;
  }

  /** The storage key of a generated asset's file. */
  static generatedKey(projectId: string, id: string, mediaType: AssetMediaType): string {
    return `assets/${projectId}/${id}.${EXTENSIONS[mediaType]}`;
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
