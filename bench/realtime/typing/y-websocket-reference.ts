// Contender: the y-websocket reference server (y-websocket-server.ts), in memory.
import { type NodeProcess, spawnEntry } from '../../../test/support/processes.ts';
import type { Contender } from './contender.ts';
import { peerDocuments, peerPids } from './peer-server.ts';
import type { DocumentPlan } from './protocol.ts';

export class YWebsocketReference implements Contender {
  readonly name = 'y-websocket-server' as const;
  readonly clientKind = 'y-websocket' as const;
  #server: NodeProcess | undefined;

  async start(): Promise<void> {
    this.#server = await spawnEntry('bench/realtime/typing/y-websocket-server.ts', {});
  }

  async prepareDocuments(count: number, clientsPerDocument: number): Promise<DocumentPlan[]> {
    return peerDocuments(this.#server!, count, clientsPerDocument);
  }

  async serverPids() {
    return peerPids(this.#server);
  }

  /** It keeps documents in memory only: there is no store to check. */
  async reopenForRead(): Promise<null> {
    return null;
  }

  async close(): Promise<void> {
    await this.#server?.stop('SIGKILL').catch(() => undefined);
  }
}
