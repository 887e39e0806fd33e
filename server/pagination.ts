import { and, type Column, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import { badRequest } from './errors.ts';

/** Position after the last row of a page: newest-first order by (createdAt, id). */
interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(row: CursorPosition): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [
      string,
      string,
    ];
    const date = new Date(createdAt);
    if (typeof id !== 'string' || Number.isNaN(date.getTime())) throw new Error('bad cursor');
    return { createdAt: date, id };
  } catch {
    throw badRequest('cursor: not a cursor this API returned', [
      { path: ['cursor'], message: 'invalid cursor' },
    ]);
  }
}

/**
 * Keyset pagination, newest first. Rows must be inserted with millisecond timestamps taken
 * in JS, so that a cursor (which goes through an ISO string) compares exactly.
 */
export function newestFirst(createdAt: Column, id: Column, cursor: string | undefined) {
  const where: SQL | undefined = cursor
    ? (() => {
        const after = decodeCursor(cursor);
        return or(
          lt(createdAt, after.createdAt),
          and(eq(createdAt, after.createdAt), lt(id, after.id)),
        );
      })()
    : undefined;
  return { where, orderBy: [desc(createdAt), desc(id)] };
}

/** Cuts the one extra row fetched to learn whether there is a next page. */
export function page<T extends CursorPosition>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
