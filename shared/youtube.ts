import { z } from 'zod';
import { text } from './text.ts';

/** `POST /youtube/connect` and the `workspaceId` query of the YouTube routes. */
export const youtubeWorkspaceSchema = z.strictObject({
  workspaceId: z.uuid({ error: 'must be a workspace id' }),
});

/** Google's redirect to `/youtube/callback`: a code (or an error) and our state. */
export const youtubeCallbackQuerySchema = z.object({
  code: text().min(1).max(2000).optional(),
  state: text().min(1).max(200),
  error: text().max(200).optional(),
  scope: text().max(2000).optional(),
});

/** Google's redirect to `/auth/google/callback`. */
export const googleCallbackQuerySchema = youtubeCallbackQuerySchema;

/** `POST /auth/google/exchange`. */
export const googleExchangeBodySchema = z.strictObject({
  loginCode: text().min(20).max(200),
});

/** A connected channel as the API shows it: never any token. */
export const youtubeChannelSchema = z
  .object({
    id: z.uuid(),
    workspaceId: z.uuid(),
    youtubeChannelId: z.string(),
    title: z.string(),
    /** The OAuth client (quota pool) it was connected through. */
    clientId: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'YoutubeChannel' });
export type YoutubeChannel = z.infer<typeof youtubeChannelSchema>;

/** One OAuth client's quota today (Pacific day). */
export const youtubeQuotaPoolSchema = z
  .object({
    clientId: z.string(),
    usedUnits: z.number().int(),
    limitUnits: z.number().int(),
    uploadsUsed: z.number().int(),
    uploadsLimit: z.number().int(),
    exhausted: z.boolean(),
    /** The next midnight in America/Los_Angeles. */
    resetAt: z.string(),
  })
  .meta({ id: 'YoutubeQuotaPool' });
export type YoutubeQuotaPool = z.infer<typeof youtubeQuotaPoolSchema>;
