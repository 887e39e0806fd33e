// Contender: Hocuspocus 3.4.4 with the SQLite extension on a file (hocuspocus-server.ts).
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NodeProcess, spawnEntry } from '../../../test/support/processes.ts';
import type { Contender } from './contender.ts';
import { peerDocuments, peerPids } from './peer-server.ts';
import type { DocumentPlan } from './protocol.ts';

const ENTRY = 'bench/realtime/typing/hocuspocus-server.ts';

export class HocuspocusSqlite implements Contender {
  readonly name = 'hocuspocus-sqlite' as const;
  readonly clientKind = 'hocuspocus' as const;
  readonly #file = path.join(tmpdir(), `hocuspocus-typing-${randomUUID()}.sqlite`);
  #server: NodeProcess | undefined;
  #closing: Promise<void> | undefined;

  async start(): Promise<void> {
    this.#server = await spawnEntry(ENTRY, {}, { args: [this.#file] });
  }

  async prepareDocuments(count: number, clientsPerDocument: number): Promise<DocumentPlan[]> {
    return peerDocuments(this.#server!, count, clientsPerDocument);
  }

  async serverPids() {
    return peerPids(this.#server);
  }

  async reopenForRead(documents: DocumentPlan[]): Promise<DocumentPlan[]> {
    // Hocuspocus stores a document (debounced) and unloads it when its last client leaves;
    // wait for that, then kill -9 so that only what reached the file counts.
    const server = this.#server!;
    const names = new Set(documents.map((doc) => doc.docName));
    const deadline = Date.now() + 60_000;
    const unloaded = () =>
      server.output.filter((line) => {
        const match = /"unloaded":"([^"]+)"/.exec(line);
        return match && names.has(match[1]!);
      }).length;
    while (unloaded() < names.size) {
      if (Date.now() > deadline)
        throw new Error(`hocuspocus unloaded ${unloaded()}/${names.size} documents`);
      await sleep(100);
    }
    // The SQLite extension does not wait for its write (db.run without a callback).
    await sleep(500);
    await server.stop('SIGKILL');
    await this.start();
    const url = this.#server!.url.replace('http', 'ws');
    return documents.map((doc) => ({ ...doc, clients: [{ url, node: 0, token: null }] }));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#server?.stop('SIGKILL').catch(() => undefined);
      await rm(this.#file, { force: true });
    })();
    return this.#closing;
  }
}
