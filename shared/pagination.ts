import { z } from 'zod';
import { text } from './text.ts';

/** `?limit=&cursor=` for every cursor-paginated list. The cursor is opaque to clients. */
export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: text().min(1).max(200).optional(),
});
export type PageQuery = z.infer<typeof pageQuerySchema>;
