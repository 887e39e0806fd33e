// What the harness needs from each system under test.
import type { ClientKind, DocumentPlan } from './protocol.ts';

export const CONTENDER_NAMES = [
  'reelroom-embedded',
  'reelroom-distributed',
  'hocuspocus-sqlite',
  'y-websocket-server',
] as const;
export type ContenderName = (typeof CONTENDER_NAMES)[number];

export interface Contender {
  readonly name: ContenderName;
  readonly clientKind: ClientKind;
  /** Starts the contender's server processes, for `clientsPerDocument` clients per document. */
  start(clientsPerDocument: number): Promise<void>;
  /** Fresh documents (empty, never loaded) for one run, with where each client connects. */
  prepareDocuments(count: number, clientsPerDocument: number): Promise<DocumentPlan[]>;
  /**
   * The processes doing the contender's server work right now: `nodes` (CPU and RSS) and, for
   * the distributed mode, the Postgres backends serving its database (`database`, CPU only:
   * their RSS is mostly Postgres's shared buffers). Redis is shared with other users of the
   * machine and cannot be attributed, so it is not measured.
   */
  serverPids(): Promise<{ nodes: number[]; database: number[] }>;
  /**
   * After the clients left: kill -9 the servers and start them again on the same store, then
   * give the plan to read each document from there (so the check sees what was stored, not what
   * was in memory). Null for a contender that keeps nothing.
   */
  reopenForRead(documents: DocumentPlan[]): Promise<DocumentPlan[] | null>;
  /** Stops every process and drops what the contender created; safe to call twice. */
  close(): Promise<void>;
}
