/**
 * Ids on the wire (projects, workspaces, renders, ...) are UUIDs, and a UUID names the same
 * thing in any letter case: Postgres compares them that way. Everything keyed by an id's text
 * (Yjs document names, Socket.IO rooms, Redis channels, storage paths, in-memory maps) must
 * use one spelling, or `ABC…` and `abc…` become a second, hidden document or room that the
 * project's deletion never reaches. The canonical spelling is lower case; every edge that takes
 * an id (REST paths, Socket.IO payloads, Yjs document names) canonicalises it on the way in.
 */
export function canonicalId(id: string): string {
  return id.toLowerCase();
}

const UUID_SEGMENT =
  /(^|\/)([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?=\/|$)/g;

/** A URL path with every UUID-shaped segment in its canonical spelling (see {@link canonicalId}). */
export function canonicalPath(path: string): string {
  return path.replace(UUID_SEGMENT, (_match, separator: string, id: string) => {
    return separator + canonicalId(id);
  });
}
