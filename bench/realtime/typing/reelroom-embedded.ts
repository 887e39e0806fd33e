// Contender: Reelroom embedded, `server/main.ts` as `npm start` runs it (the bundle, no tsx), in
// one process on a fresh DATA_DIR (PGlite).
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, type NodeProcess, spawnEntry } from '../../../test/support/processes.ts';
import { builtEntry } from '../../support/built-entry.ts';
import type { Contender } from './contender.ts';
import type { DocumentPlan } from './protocol.ts';
import { createTeam, keepFresh, type ReelroomTeam, teamSize } from './reelroom-api.ts';
import { readPlan, scriptPlan } from './reelroom-plan.ts';

/** Embedded start-up (PGlite and its migrations) takes 30-70 s on a loaded 2-core machine. */
export const REELROOM_START_TIMEOUT_MS = 180_000;

export class ReelroomEmbedded implements Contender {
  readonly name = 'reelroom-embedded' as const;
  readonly clientKind = 'y-websocket' as const;
  readonly #dataDir = path.join(tmpdir(), `reelroom-typing-${randomUUID()}`);
  #node: NodeProcess | undefined;
  #team: ReelroomTeam | undefined;
  #closing: Promise<void> | undefined;

  /** Starts the node; the team is made for `clientsPerDocument` clients on every document. */
  async start(clientsPerDocument = 5): Promise<void> {
    await this.#spawn();
    this.#team = await createTeam(this.#node!.url, teamSize(clientsPerDocument));
  }

  async prepareDocuments(count: number, clientsPerDocument: number): Promise<DocumentPlan[]> {
    return scriptPlan([this.#node!.url], this.#team!, count, clientsPerDocument);
  }

  async serverPids() {
    return { nodes: this.#node?.child.pid ? [this.#node.child.pid] : [], database: [] };
  }

  async reopenForRead(documents: DocumentPlan[]): Promise<DocumentPlan[]> {
    await this.#node!.stop('SIGKILL');
    await this.#spawn();
    await keepFresh(this.#node!.url, this.#team!);
    return readPlan(this.#node!.url, this.#team!, documents);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#node?.stop('SIGKILL').catch(() => undefined);
      await rm(this.#dataDir, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  async #spawn(): Promise<void> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    this.#node = await spawnEntry(
      builtEntry('main'),
      { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: this.#dataDir, LOG_LEVEL: 'warn' },
      { url, timeoutMs: REELROOM_START_TIMEOUT_MS },
    );
  }
}
