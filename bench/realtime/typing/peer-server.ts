// What the two peer contenders (Hocuspocus, the y-websocket reference server) share: one
// process, no accounts and no database of their own.
import { randomUUID } from 'node:crypto';
import type { NodeProcess } from '../../../test/support/processes.ts';
import type { DocumentPlan } from './protocol.ts';

/** `count` documents with fresh names, each with `clientsPerDocument` clients of `server`. */
export function peerDocuments(
  server: NodeProcess,
  count: number,
  clientsPerDocument: number,
): DocumentPlan[] {
  const url = server.url.replace('http', 'ws');
  return Array.from({ length: count }, () => ({
    docName: `typing-${randomUUID()}`,
    clients: Array.from({ length: clientsPerDocument }, () => ({ url, node: 0, token: null })),
  }));
}

/** The server's one process; there is no database process to measure. */
export function peerPids(server: NodeProcess | undefined) {
  return { nodes: server?.child.pid ? [server.child.pid] : [], database: [] };
}
