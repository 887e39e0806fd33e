import { and, type Column, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import { badRequest, type ValidationError } from './errors.ts';

/** Position after the last row of a page: newest-first order by (createdAt, id). */
interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(row: CursorPosition): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Rows are stamped by `new Date()`; years outside this cannot be ours (nor all Postgres'). */
const EARLIEST_MS = Date.UTC(1970, 0, 1);
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The 400 every cursor we did not issue gets, naming the `cursor` query parameter. */
export function invalidCursor(): ValidationError {
  return badRequest('Invalid query: cursor: not a cursor this API returned', [
    { path: ['cursor'], message: 'invalid cursor' },
  ]);
}

/**
 * The position a cursor of {@link encodeCursor} names. Anything else (not base64url, not JSON,
 * another shape, a date that does not parse or that Postgres cannot hold, an id that is not a
 * uuid) is a 400: these values go into SQL comparisons with a timestamp and a uuid column,
 * where a bad one would be a database error.
 */
export function decodeCursor(cursor: string): CursorPosition {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw invalidCursor();
  const [createdAt, id] = decoded as unknown[];
  if (typeof createdAt !== 'string' || !ISO_INSTANT.test(createdAt)) throw invalidCursor();
  if (typeof id !== 'string' || !UUID.test(id)) throw invalidCursor();
  const date = new Date(createdAt);
  const ms = date.getTime();
  // `2021-02-30T...` parses to March 2nd: only a date that prints back the same is one we made.
  if (Number.isNaN(ms) || ms < EARLIEST_MS || ms > LATEST_MS || date.toISOString() !== createdAt) {
    throw invalidCursor();
  }
  return { createdAt: date, id };
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
