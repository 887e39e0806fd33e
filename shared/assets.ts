import { z } from 'zod';

/** Media types an asset may have; decided from the file's content, never from its name. */
export const ASSET_MEDIA_TYPES = {
  'image/png': 'image',
  'image/jpeg': 'image',
  'audio/wav': 'audio',
  'audio/mpeg': 'audio',
  /** Made by the pipeline only (uploads are images and audio): captions and the script. */
  'text/vtt': 'subtitles',
  'text/plain': 'script',
} as const;
export type AssetMediaType = keyof typeof ASSET_MEDIA_TYPES;
export type AssetKind = (typeof ASSET_MEDIA_TYPES)[AssetMediaType];

/** Largest image upload: 10 MiB. */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
/** Largest audio upload: 100 MiB (10 minutes of 48 kHz stereo WAV is about 110 MB). */
export const MAX_AUDIO_BYTES = 100 * 1024 * 1024;
/** Largest image, in pixels per side. */
export const MAX_IMAGE_SIDE = 8192;
/**
 * Most pixels an image may decode to (8192×8192). Decoding needs the whole image in memory, so
 * this, not the file size (an 8192×8192 PNG of one colour is 200 KB), is what an image costs.
 */
export const MAX_IMAGE_PIXELS = 8192 * 8192;
/** Most bytes an image may decode to: 8192×8192 at 8-bit RGBA (256 MiB); 16-bit images count double. */
export const MAX_IMAGE_DECODED_BYTES = 8192 * 8192 * 4;

export const assetSchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    kind: z.enum(['image', 'audio', 'subtitles', 'script']),
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
