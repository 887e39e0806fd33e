// Messages between the harness and its load-client processes (over the fork IPC channel).
import type { LatencySummary } from './stats.ts';

/** Which client library a contender speaks: stock y-websocket, or Hocuspocus's provider. */
export type ClientKind = 'y-websocket' | 'hocuspocus';

/** One client's connection: the provider's server URL and which server node it is on. */
export interface ClientEndpoint {
  /** y-websocket: the URL before the room name (`ws://host:port/yjs`); Hocuspocus: the server. */
  url: string;
  /** Server node index, to split latencies into same-node and cross-node receivers. */
  node: number;
  /** Access token sent as the `token` parameter (Reelroom); null where the server has no auth. */
  token: string | null;
}

export interface DocumentPlan {
  docName: string;
  clients: ClientEndpoint[];
}

export type ToClient =
  | { type: 'connect'; kind: ClientKind; documents: DocumentPlan[] }
  | {
      type: 'run';
      /** Edits per second this process makes, over all its clients. */
      rate: number;
      /** Wall-clock (Date.now) time of the first scheduled edit, shared by all processes. */
      startAt: number;
      warmupMs: number;
      measureMs: number;
      /** How long to wait after the last edit for deliveries and convergence. */
      drainMs: number;
    }
  | { type: 'read'; kind: ClientKind; documents: DocumentPlan[] }
  | { type: 'close' };

export interface DocumentOutcome {
  docName: string;
  /** All clients of the document ended with the same text. */
  converged: boolean;
  /** sha256 of the first client's text, and its length. */
  hash: string;
  length: number;
}

export interface RunResult {
  type: 'result';
  /** Edit-to-last-receiver latencies (ms) of the edits scheduled in the measured window. */
  latencies: number[];
  /** Per-receiver latencies (ms) of measured edits, split by node relation. */
  sameNode: number[];
  crossNode: number[];
  /** Edits made in the measured window, and the time they spanned (ms). */
  measuredEdits: number;
  measuredSpanMs: number;
  /** Measured edits some receiver never got before the drain timeout. */
  undelivered: number;
  /** How late the generator made edits against the schedule (ms): the client side keeping up. */
  scheduleLag: LatencySummary;
  documents: DocumentOutcome[];
}

export type FromClient =
  | { type: 'connected' }
  | RunResult
  | { type: 'texts'; documents: DocumentOutcome[] }
  | { type: 'error'; message: string };
