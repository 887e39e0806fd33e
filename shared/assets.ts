import { z } from 'zod';

/** Media types an asset may have; decided from the file's content, never from its name. */
export const ASSET_MEDIA_TYPES = {
  'image/png': 'image',
  'image/jpeg': 'image',
  'audio/wav': 'audio',
  'audio/mpeg': 'audio',
} as const;
export type AssetMediaType = keyof typeof ASSET_MEDIA_TYPES;
export type AssetKind = (typeof ASSET_MEDIA_TYPES)[AssetMediaType];

/** Largest image upload: 10 MiB. */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
/** Largest audio upload: 100 MiB (10 minutes of 48 kHz stereo WAV is about 110 MB). */
export const MAX_AUDIO_BYTES = 100 * 1024 * 1024;
/** Largest image, in pixels per side. */
export const MAX_IMAGE_SIDE = 8192;

export const assetSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    kind: z.enum(['image', 'audio']),
    mediaType: z.enum(Object.keys(ASSET_MEDIA_TYPES) as [AssetMediaType, ...AssetMediaType[]]),
    bytes: z.int(),
    width: z.int().nullable(),
    height: z.int().nullable(),
    durationSec: z.number().nullable(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Asset' });
export type Asset = z.infer<typeof assetSchema>;
