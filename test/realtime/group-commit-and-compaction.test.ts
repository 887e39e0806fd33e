import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';
import {
  CompactionScheduler,
  type DocumentStore,
  type RealtimeLogger,
  type StoredDocument,
  UpdateLogWriter,
} from '../../realtime/index.ts';
import { type Database, tables } from '../../server/db/index.ts';
import { YjsDocumentStore } from '../../server/realtime/index.ts';
import { databaseBackends, openTestPglite } from '../support/databases.ts';
import {
  connectYjs,
  ProjectFixture,
  type RealtimeNode,
  seededRandom,
  startRealtimeNode,
  type YjsClient,
} from './support/realtime-fixture.ts';

// The relay path under load: the node's group commit (one transaction for what all documents
// received) and compaction scheduled off that path, on the real stores.

const WAIT = { timeout: 60_000, interval: 50 };

const quietLogger: RealtimeLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

function textOf(stored: StoredDocument): string {
  const doc = new Y.Doc();
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
  for (const row of stored.updates) Y.applyUpdate(doc, row.update);
  const text = doc.getText('script').toString();
  doc.destroy();
  return text;
}

/** A chain of updates where each depends on the one before (one client typing at the end). */
function typingChain(length: number): Uint8Array[] {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  for (let i = 0; i < length; i += 1)
    doc.getText('script').insert(i, String.fromCharCode(97 + (i % 26)));
  doc.destroy();
  return updates;
}

describe.each(databaseBackends)(
  'typing at 500 edits/s on 20 documents through compactions ($name)',
  (backend) => {
    const DOCUMENTS = 20;
    const CLIENTS_PER_DOCUMENT = 3;
    const RATE = 500;
    const EDITS = 2000;
    let database: Database;
    let node: RealtimeNode;
    const clients: YjsClient[] = [];

    beforeAll(async () => {
      database = await backend.open();
      node = await startRealtimeNode(database, {
        // Low thresholds: every document compacts several times during the run.
        realtime: { documents: { compactEvery: 40, compactionChunk: 30 } },
      });
    }, 120_000);

    afterAll(async () => {
      for (const client of clients.splice(0)) client.destroy();
      await node?.close();
      await database?.close();
    });

    it('converges on every client and in the store, with every document compacted', async () => {
      const compactions = new Map<string, number>();
      node.realtime.documents.on('compacted', (docName, merged) => {
        if (merged > 0) compactions.set(docName, (compactions.get(docName) ?? 0) + 1);
      });
      const documents: Array<{ name: string; clients: YjsClient[] }> = [];
      for (let d = 0; d < DOCUMENTS; d += 1) {
        const fixture = await new ProjectFixture(database.db, [node.access]).create();
        const docClients: YjsClient[] = [];
        for (let c = 0; c < CLIENTS_PER_DOCUMENT; c += 1) {
          const user = await fixture.user(`Editor ${c}`, 'editor');
          const client = connectYjs(node, fixture.scriptDoc, user.token);
          clients.push(client);
          docClients.push(client);
        }
        documents.push({ name: fixture.scriptDoc, clients: docClients });
      }
      await vi.waitFor(() => {
        for (const client of clients) expect(client.provider.synced).toBe(true);
      }, WAIT);

      // Paced by the clock: each tick makes the edits due by now, so a slow tick catches up.
      const random = seededRandom(0x500);
      const started = performance.now();
      let made = 0;
      while (made < EDITS) {
        const due = Math.min(EDITS, Math.floor(((performance.now() - started) / 1000) * RATE) + 1);
        for (; made < due; made += 1) {
          const document = documents[Math.floor(random() * DOCUMENTS)]!;
          const client = document.clients[Math.floor(random() * CLIENTS_PER_DOCUMENT)]!;
          const text = client.doc.getText('script');
          if (text.length > 3 && random() < 0.15) {
            text.delete(Math.floor(random() * (text.length - 1)), 1);
          } else {
            text.insert(Math.floor(random() * (text.length + 1)), 'abcdefghij'[made % 10]!);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const seconds = (performance.now() - started) / 1000;
      expect(EDITS / seconds).toBeGreaterThan(RATE / 3);

      await vi.waitFor(() => {
        for (const document of documents) {
          const [first, ...rest] = document.clients;
          for (const client of rest) expect(client.text()).toBe(first!.text());
        }
      }, WAIT);
      await vi.waitFor(() => {
        for (const document of documents) {
          expect(compactions.get(document.name) ?? 0).toBeGreaterThanOrEqual(1);
        }
      }, WAIT);
      // The stored state, read fresh, is what the clients show; no client was ever disconnected.
      const store = new YjsDocumentStore(database.db);
      await vi.waitFor(async () => {
        for (const document of documents) {
          expect(textOf(await store.load(document.name))).toBe(document.clients[0]!.text());
        }
      }, WAIT);
      for (const client of clients) expect(client.closeCodes).toEqual([]);
      const total = documents.reduce(
        (sum, document) => sum + document.clients[0]!.text().length,
        0,
      );
      expect(total).toBeGreaterThan(EDITS / 2);
    }, 240_000);
  },
);

describe('UpdateLogWriter (group commit) on PGlite', () => {
  let database: Database;
  let store: YjsDocumentStore;

  beforeAll(async () => {
    database = await openTestPglite();
    store = new YjsDocumentStore(database.db);
  }, 120_000);
  afterAll(() => database?.close());

  /** The real store, recording when each group commit starts and how many rows it holds. */
  function recording(real: DocumentStore) {
    const calls: Array<{ at: number; docs: string[] }> = [];
    const wrapped: DocumentStore = {
      load: (docName, options) => real.load(docName, options),
      append: (docName, update) => real.append(docName, update),
      compact: (docName, compaction) => real.compact(docName, compaction),
      appendMany: (entries) => {
        calls.push({ at: performance.now(), docs: entries.map((entry) => entry.docName) });
        return real.appendMany!(entries);
      },
    };
    return { wrapped, calls };
  }

  it('writes what all documents received in one transaction, after at most maxWaitMs', async () => {
    const fixtures = await Promise.all(
      [0, 1, 2, 3, 4].map(() => new ProjectFixture(database.db, []).create()),
    );
    const { wrapped, calls } = recording(store);
    const writer = new UpdateLogWriter({ store: wrapped, maxWaitMs: 20 });
    const submitted = performance.now();
    await Promise.all(fixtures.map((f) => writer.write(f.scriptDoc, typingChain(1)[0]!)));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.docs.sort()).toEqual(fixtures.map((f) => f.scriptDoc).sort());
    const waited = calls[0]!.at - submitted;
    expect(waited).toBeGreaterThanOrEqual(18);
    // The bound, with room for a loaded machine's timer lateness.
    expect(waited).toBeLessThan(20 + 500);
  });

  it('starts the next batch as soon as the one in flight commits, not after another wait', async () => {
    const fixture = await new ProjectFixture(database.db, []).create();
    const calls: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The real store; its first group commit is held in flight until the rest are queued.
    const writer = new UpdateLogWriter({
      store: {
        load: (docName, options) => store.load(docName, options),
        append: (docName, update) => store.append(docName, update),
        compact: (docName, compaction) => store.compact(docName, compaction),
        appendMany: async (entries) => {
          calls.push(performance.now());
          if (calls.length === 1) await held;
          await store.appendMany(entries);
        },
      },
      maxWaitMs: 50,
    });
    const chain = typingChain(6);
    const first = writer.write(fixture.scriptDoc, chain[0]!);
    await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 2000, interval: 1 });
    const rest = chain.slice(1).map((update) => writer.write(fixture.scriptDoc, update));
    release();
    await first;
    const committed = performance.now();
    await Promise.all(rest);
    // The five queued meanwhile went in one batch, started back to back: well under the 50 ms
    // a fresh batch would wait.
    expect(calls).toHaveLength(2);
    expect(calls[1]! - committed).toBeLessThan(40);
    expect(textOf(await store.load(fixture.scriptDoc))).toBe('abcdef');
  });

  it('keeps each document’s order across batches and settles its writes in that order', async () => {
    const fixtures = await Promise.all(
      [0, 1, 2].map(() => new ProjectFixture(database.db, []).create()),
    );
    const writer = new UpdateLogWriter({ store, maxWaitMs: 0, maxBatchUpdates: 7 });
    const chains = fixtures.map(() => typingChain(40));
    const settled = fixtures.map(() => [] as number[]);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 40; i += 1) {
      fixtures.forEach((fixture, d) => {
        writes.push(
          writer.write(fixture.scriptDoc, chains[d]![i]!).then(() => {
            settled[d]!.push(i);
          }),
        );
      });
      // Some writes land while a batch is in flight, some in the same turn.
      if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    expect(writer.batches).toBeGreaterThan(3);
    for (const [d, fixture] of fixtures.entries()) {
      expect(settled[d]).toEqual([...Array(40).keys()]);
      // Applied in id order, each row finds everything it depends on already there.
      const stored = await store.load(fixture.scriptDoc);
      const doc = new Y.Doc();
      for (const row of stored.updates) {
        Y.applyUpdate(doc, row.update);
        expect(doc.store.pendingStructs).toBeNull();
      }
      expect(doc.getText('script').length).toBe(40);
    }
  });

  it('rejects exactly the updates of a document whose append fails, and stores none of them', async () => {
    const [alive, doomed] = await Promise.all([
      new ProjectFixture(database.db, []).create(),
      new ProjectFixture(database.db, []).create(),
    ]);
    // The project row goes: the doomed document's rows break the foreign key.
    await database.db.delete(tables.projects).where(eq(tables.projects.id, doomed.projectId));
    const writer = new UpdateLogWriter({ store, maxWaitMs: 5 });
    const aliveChain = typingChain(3);
    const outcomes = await Promise.allSettled([
      writer.write(alive.scriptDoc, aliveChain[0]!),
      writer.write(doomed.scriptDoc, typingChain(1)[0]!),
      writer.write(alive.scriptDoc, aliveChain[1]!),
      writer.write(doomed.scriptDoc, typingChain(2)[1]!),
      writer.write(alive.scriptDoc, aliveChain[2]!),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(textOf(await store.load(alive.scriptDoc))).toBe('abc');
    expect((await store.load(doomed.scriptDoc)).updates).toEqual([]);
  });

  it('refuses a write whose guard throws, without writing it', async () => {
    const fixture = await new ProjectFixture(database.db, []).create();
    const writer = new UpdateLogWriter({ store, maxWaitMs: 0 });
    await expect(
      writer.write(fixture.scriptDoc, typingChain(1)[0]!, () => {
        throw new Error('document was deleted');
      }),
    ).rejects.toThrow(/deleted/);
    expect((await store.load(fixture.scriptDoc)).updates).toEqual([]);
  });
});

describe('CompactionScheduler', () => {
  let scheduler: CompactionScheduler | null = null;
  afterEach(async () => {
    await scheduler?.idle();
    scheduler = null;
  });

  it('staggers documents under an even load and runs one compaction at a time', async () => {
    let running = 0;
    let mostAtOnce = 0;
    scheduler = new CompactionScheduler({
      compact: async () => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running -= 1;
        return 1;
      },
      everyUpdates: 100,
      everyMs: 3_600_000,
      logger: quietLogger,
      random: seededRandom(42),
    });
    const docs = Array.from({ length: 20 }, (_, i) => `project/doc-${i}/script`);
    const firstDue = new Map<string, number>();
    // Every document gets one update per tick: the same load on all of them.
    for (let tick = 0; tick < 130; tick += 1) {
      for (const doc of docs) {
        if (scheduler.noteStored(doc) && !firstDue.has(doc)) firstDue.set(doc, tick);
      }
    }
    await scheduler.idle();
    expect(firstDue.size).toBe(20);
    const ticks = [...firstDue.values()];
    // Thresholds drawn in 75..125: spread over tens of ticks, not all at the 100th.
    expect(new Set(ticks).size).toBeGreaterThanOrEqual(10);
    expect(Math.max(...ticks) - Math.min(...ticks)).toBeGreaterThanOrEqual(20);
    expect(ticks.every((t) => t >= 73 && t <= 125)).toBe(true);
    expect(mostAtOnce).toBe(1);
  });

  it('makes a slowly edited document due by time, and shares a queued request', async () => {
    let now = 0;
    const compacted: string[] = [];
    scheduler = new CompactionScheduler({
      compact: async (docName) => {
        compacted.push(docName);
        return 1;
      },
      everyUpdates: 1000,
      everyMs: 10_000,
      jitter: 0,
      logger: quietLogger,
      now: () => now,
    });
    expect(scheduler.noteStored('slow')).toBe(false);
    now = 9_999;
    expect(scheduler.noteStored('slow')).toBe(false);
    now = 10_000;
    expect(scheduler.noteStored('slow')).toBe(true);
    const again = scheduler.request('other');
    expect(scheduler.request('other')).toBe(again);
    await scheduler.idle();
    expect(compacted).toEqual(['slow', 'other']);
  });
});
