// Contender: Reelroom distributed, two `server/api-main.ts` nodes (bundled, as `npm run
// start:api` runs them) on a fresh Postgres database and Redis under a key prefix of their own;
// the clients of each document alternate between the nodes (3 on one, 2 on the other), so most
// edits cross nodes through Redis.
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { openTestPostgres } from '../../../test/support/databases.ts';
import { freePort, type NodeProcess, spawnEntry } from '../../../test/support/processes.ts';
import { TEST_REDIS_URL } from '../../../test/support/services.ts';
import { builtEntry } from '../../support/built-entry.ts';
import type { Contender } from './contender.ts';
import type { DocumentPlan } from './protocol.ts';
import { createTeam, keepFresh, type ReelroomTeam, teamSize } from './reelroom-api.ts';
import { REELROOM_START_TIMEOUT_MS } from './reelroom-embedded.ts';
import { readPlan, scriptPlan } from './reelroom-plan.ts';

type TestPostgres = Awaited<ReturnType<typeof openTestPostgres>>;

export class ReelroomDistributed implements Contender {
  readonly name = 'reelroom-distributed' as const;
  readonly clientKind = 'y-websocket' as const;
  readonly #prefix = `bench-typing-${randomUUID()}`;
  readonly #dataDir = path.join(tmpdir(), `reelroom-typing-${randomUUID()}`);
  readonly #jwtSecret = randomBytes(32).toString('base64url');
  #database: TestPostgres | undefined;
  /** Backends of the harness's own connection, left out of the database CPU. */
  #ownBackends = new Set<number>();
  #nodes: NodeProcess[] = [];
  #team: ReelroomTeam | undefined;
  #closing: Promise<void> | undefined;

  /** Starts both nodes; the team is made for `clientsPerDocument` clients on every document. */
  async start(clientsPerDocument = 5): Promise<void> {
    this.#database = await openTestPostgres();
    this.#ownBackends = new Set(await this.#backends());
    this.#nodes = await Promise.all([this.#spawn(), this.#spawn()]);
    this.#team = await createTeam(this.#nodes[0]!.url, teamSize(clientsPerDocument));
  }

  async prepareDocuments(count: number, clientsPerDocument: number): Promise<DocumentPlan[]> {
    const urls = this.#nodes.map((node) => node.url);
    return scriptPlan(urls, this.#team!, count, clientsPerDocument);
  }

  async serverPids() {
    const backends = await this.#backends();
    return {
      nodes: this.#nodes.flatMap((node) => (node.child.pid ? [node.child.pid] : [])),
      database: backends.filter((pid) => !this.#ownBackends.has(pid)),
    };
  }

  async reopenForRead(documents: DocumentPlan[]): Promise<DocumentPlan[]> {
    await Promise.all(this.#nodes.map((node) => node.stop('SIGKILL')));
    this.#nodes = [await this.#spawn()];
    await keepFresh(this.#nodes[0]!.url, this.#team!);
    return readPlan(this.#nodes[0]!.url, this.#team!, documents);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled(this.#nodes.map((node) => node.stop('SIGKILL')));
      const steps = await Promise.allSettled([
        this.#database?.close(),
        this.#dropRedisKeys(),
        rm(this.#dataDir, { recursive: true, force: true }),
      ]);
      for (const step of steps)
        if (step.status === 'rejected') console.error('clean-up:', step.reason);
    })();
    return this.#closing;
  }

  async #spawn(): Promise<NodeProcess> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    return spawnEntry(
      builtEntry('api-main'),
      {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: this.#database!.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: this.#prefix,
        JWT_SECRET: this.#jwtSecret,
        DATA_DIR: this.#dataDir,
        LOG_LEVEL: 'warn',
      },
      { url, timeoutMs: REELROOM_START_TIMEOUT_MS },
    );
  }

  async #backends(): Promise<number[]> {
    const rows = (await this.#database!.db.execute(
      'select pid from pg_stat_activity where datname = current_database()',
    )) as unknown as Array<{ pid: number }>;
    return rows.map((row) => Number(row.pid));
  }

  async #dropRedisKeys(): Promise<void> {
    const redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();
    try {
      const keys: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `${this.#prefix}*`, COUNT: 500 })) {
        keys.push(...batch);
      }
      if (keys.length > 0) await redis.del(keys);
    } finally {
      await redis.close();
    }
  }
}
