import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import {
  DocumentBusMessageKind,
  type DocumentStore,
  type StoredDocument,
} from '../../realtime/index.ts';
import { type Database, openDatabase } from '../../server/db/index.ts';
import { YjsDocumentStore } from '../../server/realtime/index.ts';
import { CloseCodes } from '../../shared/close-codes.ts';
import { openTestPostgres } from '../support/databases.ts';
import {
  connectYjs,
  dropRedisPrefix,
  ProjectFixture,
  type RealtimeNode,
  seededRandom,
  startRealtimeNode,
  type YjsClient,
} from './support/realtime-fixture.ts';

const WAIT = { timeout: 20_000, interval: 25 };

function stateVector(doc: Y.Doc): Array<[number, number]> {
  return [...Y.decodeStateVector(Y.encodeStateVector(doc)).entries()].sort((a, b) => a[0] - b[0]);
}

async function storedText(store: DocumentStore, docName: string): Promise<string> {
  const doc = docFromStore(await store.load(docName));
  return doc.getText('script').toString();
}

function docFromStore(stored: StoredDocument): Y.Doc {
  const doc = new Y.Doc();
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
  for (const row of stored.updates) Y.applyUpdate(doc, row.update);
  return doc;
}

async function synced(...clients: YjsClient[]): Promise<void> {
  await vi.waitFor(() => {
    for (const client of clients) expect(client.provider.synced).toBe(true);
  }, WAIT);
}

/** Seeded random inserts and deletes from every client, interleaved with network turns. */
async function randomEdits(clients: YjsClient[], seed: number, rounds: number): Promise<void> {
  const random = seededRandom(seed);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz ';
  for (let round = 0; round < rounds; round += 1) {
    for (const client of clients) {
      const text = client.doc.getText('script');
      if (text.length > 0 && random() < 0.3) {
        const index = Math.floor(random() * text.length);
        text.delete(index, Math.min(1 + Math.floor(random() * 3), text.length - index));
      } else {
        const index = Math.floor(random() * (text.length + 1));
        const length = 1 + Math.floor(random() * 5);
        let chunk = '';
        for (let i = 0; i < length; i += 1) chunk += alphabet[Math.floor(random() * 27)];
        text.insert(index, chunk);
      }
    }
    // Let messages flow both ways between rounds, so edits are concurrent but not all blind.
    if (random() < 0.5) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('Yjs sync across two nodes (Postgres + Redis)', () => {
  let database: Database & { url: string };
  let secondConnection: Database;
  let prefix: string;
  let nodeA: RealtimeNode;
  let nodeB: RealtimeNode;
  let store: YjsDocumentStore;
  const clients: YjsClient[] = [];

  const project = () => new ProjectFixture(database.db, [nodeA.access, nodeB.access]).create();
  const connect = (...args: Parameters<typeof connectYjs>) => {
    const client = connectYjs(...args);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    database = await openTestPostgres();
    // Each node gets a connection pool of its own, as separate processes would.
    secondConnection = await openDatabase({ url: database.url });
    prefix = `test-${randomUUID()}`;
    nodeA = await startRealtimeNode(database, { redisKeyPrefix: prefix });
    nodeB = await startRealtimeNode(secondConnection, { redisKeyPrefix: prefix });
    store = new YjsDocumentStore(database.db);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
  });

  afterAll(async () => {
    await Promise.allSettled([nodeA?.close(), nodeB?.close()]);
    await secondConnection?.close();
    await database?.close();
    if (prefix) await dropRedisPrefix(prefix);
  });

  it('converges after seeded random concurrent edits from clients on both nodes', async () => {
    const fixture = await project();
    const users = await Promise.all([1, 2, 3, 4].map((i) => fixture.user(`Editor ${i}`, 'editor')));
    const editors = users.map((user, i) =>
      connect(i % 2 === 0 ? nodeA : nodeB, fixture.scriptDoc, user.token),
    );
    await synced(...editors);

    await randomEdits(editors, 0x5eed, 60);

    await vi.waitFor(() => {
      const [first, ...rest] = editors;
      for (const client of rest) {
        expect(client.text()).toBe(first!.text());
        expect(stateVector(client.doc)).toEqual(stateVector(first!.doc));
      }
    }, WAIT);
    const expected = editors[0]!;
    expect(expected.text().length).toBeGreaterThan(0);
    // Every accepted update was stored: the database alone yields the same document.
    const fromDb = docFromStore(await store.load(fixture.scriptDoc));
    expect(fromDb.getText('script').toString()).toBe(expected.text());
    expect(stateVector(fromDb)).toEqual(stateVector(expected.doc));
    expect(await nodeB.realtime.getDocumentText(fixture.scriptDoc)).toBe(expected.text());
  });

  it('syncs the plan document (map and array) between nodes', async () => {
    const fixture = await project();
    const [alice, bob] = await Promise.all([
      fixture.user('Alice', 'owner'),
      fixture.user('Bob', 'editor'),
    ]);
    const a = connect(nodeA, fixture.planDoc, alice.token);
    const b = connect(nodeB, fixture.planDoc, bob.token);
    await synced(a, b);
    a.doc.getMap('plan').set('phase', 'research');
    b.doc.getArray('decisions').push([{ category: 'pricing', text: '$9' }]);
    await vi.waitFor(() => {
      expect(b.doc.getMap('plan').get('phase')).toBe('research');
      expect(a.doc.getArray('decisions').toJSON()).toEqual([{ category: 'pricing', text: '$9' }]);
    }, WAIT);
  });

  it('gives a viewer the document and awareness but lands its edits nowhere', async () => {
    const fixture = await project();
    const [editorUser, viewerUser] = await Promise.all([
      fixture.user('Editor', 'editor'),
      fixture.user('Viewer', 'viewer'),
    ]);
    const editor = connect(nodeA, fixture.scriptDoc, editorUser.token);
    editor.doc.getText('script').insert(0, 'Hello');
    const viewer = connect(nodeB, fixture.scriptDoc, viewerUser.token);
    await synced(editor, viewer);
    await vi.waitFor(() => expect(viewer.text()).toBe('Hello'), WAIT);

    let dropped = 0;
    nodeB.realtime.documents.on('dropped', (docName) => {
      if (docName === fixture.scriptDoc) dropped += 1;
    });
    viewer.doc.getText('script').insert(0, 'VIEWER ');
    await vi.waitFor(() => expect(dropped).toBe(1), WAIT);

    // Awareness still flows from the viewer, and the editor's later edits still reach it.
    viewer.provider.awareness.setLocalStateField('user', { name: 'Viewer' });
    editor.doc.getText('script').insert(5, ' world');
    await vi.waitFor(() => {
      expect(viewer.text()).toContain(' world');
      const states = [...editor.provider.awareness.getStates().values()];
      // The server sets `user` to who the connection is (see the security tests).
      expect(states).toContainEqual({ user: { name: 'Viewer', id: viewerUser.userId } });
    }, WAIT);
    expect(editor.text()).toBe('Hello world');
    expect(await storedText(store, fixture.scriptDoc)).toBe('Hello world');
    // A third client, freshly connected, sees no trace of the viewer's edit either.
    const late = connect(nodeA, fixture.scriptDoc, editorUser.token);
    await synced(late);
    expect(late.text()).toBe('Hello world');
  });

  it('refuses non-members (4403), missing or bad tokens (4401) and unknown documents (4404)', async () => {
    const fixture = await project();
    const outsider = await fixture.user('Outsider', null);
    const member = await fixture.user('Member', 'editor');
    const cases = [
      { client: connect(nodeA, fixture.scriptDoc, outsider.token), code: CloseCodes.Forbidden },
      { client: connect(nodeB, fixture.scriptDoc, 'not-a-token'), code: CloseCodes.Unauthorized },
      { client: connect(nodeA, fixture.scriptDoc, null), code: CloseCodes.Unauthorized },
      {
        client: connect(nodeB, `project/${fixture.projectId}/notes`, member.token),
        code: CloseCodes.UnknownDocument,
      },
      { client: connect(nodeA, 'some/other/doc', member.token), code: CloseCodes.UnknownDocument },
      {
        client: connect(nodeA, `project/${randomUUID()}/script`, member.token),
        code: CloseCodes.Forbidden,
      },
    ];
    for (const { client, code } of cases) {
      await vi.waitFor(() => expect(client.closeCodes).toContain(code), WAIT);
      expect(client.provider.synced).toBe(false);
    }
    expect(await store.load(fixture.scriptDoc)).toMatchObject({ snapshot: null, updates: [] });
  });

  it('closes a connection that sends an undecodable update (4400) and stores nothing', async () => {
    const fixture = await project();
    const editor = await fixture.user('Editor', 'editor');
    const ws = new WebSocket(`${nodeA.wsUrl}/yjs/${fixture.scriptDoc}?token=${editor.token}`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.on('open', resolve));
    // sync message, type "update", a 3-byte payload that is not a Yjs update
    ws.send(new Uint8Array([0, 2, 3, 0xff, 0xff, 0xff]));
    expect(await closed).toBe(CloseCodes.BadMessage);
    expect(await store.load(fixture.scriptDoc)).toMatchObject({ snapshot: null, updates: [] });
  });

  it('makes a demoted editor read-only and disconnects a removed member, across nodes', async () => {
    const fixture = await project();
    const [ownerUser, demotedUser, removedUser] = await Promise.all([
      fixture.user('Owner', 'owner'),
      fixture.user('Demoted', 'editor'),
      fixture.user('Removed', 'editor'),
    ]);
    const owner = connect(nodeA, fixture.scriptDoc, ownerUser.token);
    const demoted = connect(nodeB, fixture.scriptDoc, demotedUser.token);
    const removed = connect(nodeB, fixture.scriptDoc, removedUser.token);
    await synced(owner, demoted, removed);
    demoted.doc.getText('script').insert(0, 'before ');
    await vi.waitFor(() => expect(owner.text()).toBe('before '), WAIT);

    const roleChanges: Array<[string, string | null]> = [];
    nodeB.realtime.documents.on('role-changed', (_doc, userId, role) =>
      roleChanges.push([userId, role]),
    );
    let dropped = 0;
    nodeB.realtime.documents.on('dropped', () => {
      dropped += 1;
    });
    // The change is announced on node A; the connections live on node B.
    await fixture.setRole(demotedUser.userId, 'viewer');
    await nodeA.realtime.notifyMembershipChanged({
      workspaceId: fixture.workspaceId,
      userId: demotedUser.userId,
      role: 'viewer',
    });
    await fixture.setRole(removedUser.userId, null);
    await nodeA.realtime.notifyMembershipChanged({
      workspaceId: fixture.workspaceId,
      userId: removedUser.userId,
      role: null,
    });
    await vi.waitFor(() => {
      expect(roleChanges).toContainEqual([demotedUser.userId, 'viewer']);
      expect(removed.closeCodes).toContain(CloseCodes.Forbidden);
    }, WAIT);

    demoted.doc.getText('script').insert(0, 'after ');
    await vi.waitFor(() => expect(dropped).toBe(1), WAIT);
    owner.doc.getText('script').insert(7, '!');
    await vi.waitFor(() => expect(demoted.text()).toContain('!'), WAIT);
    expect(owner.text()).toBe('before !');
    expect(await storedText(store, fixture.scriptDoc)).toBe('before !');
    // Reconnecting does not help a removed member.
    const again = connect(nodeA, fixture.scriptDoc, removedUser.token);
    await vi.waitFor(() => expect(again.closeCodes).toContain(CloseCodes.Forbidden), WAIT);
  });

  it('compacts the log, unloads an idle document after the grace period and reloads it without writing', async () => {
    const fixture = await project();
    const editorUser = await fixture.user('Editor', 'editor');
    const nodeC = await startRealtimeNode(database, {
      realtime: { documents: { unloadGraceMs: 200, compactEvery: 5 } },
    });
    nodeC.access.tokens.set(editorUser.token, { userId: editorUser.userId, name: editorUser.name });
    const events: string[] = [];
    nodeC.realtime.documents.on('compacted', (doc, merged) => {
      if (doc === fixture.scriptDoc && merged > 0) events.push('compacted');
    });
    nodeC.realtime.documents.on('unloaded', (doc) => {
      if (doc === fixture.scriptDoc) events.push('unloaded');
    });
    try {
      const editor = connect(nodeC, fixture.scriptDoc, editorUser.token);
      await synced(editor);
      for (let i = 0; i < 12; i += 1) {
        editor.doc.getText('script').insert(0, `${i};`);
        // One update at a time, so each is its own append.
        await vi.waitFor(
          async () => expect(await storedText(store, fixture.scriptDoc)).toContain(`${i};`),
          WAIT,
        );
      }
      await vi.waitFor(() => expect(events).toContain('compacted'), WAIT);
      const expected = editor.text();
      editor.destroy();
      await vi.waitFor(() => expect(events).toContain('unloaded'), WAIT);
      expect(nodeC.realtime.documents.loadedDocuments).not.toContain(fixture.scriptDoc);

      // Unloading compacted what was left; loading again reads and writes nothing.
      await vi.waitFor(async () => {
        const stored = await store.load(fixture.scriptDoc);
        expect(stored.snapshot).not.toBeNull();
        expect(stored.updates).toEqual([]);
      }, WAIT);
      const before = await store.load(fixture.scriptDoc);
      const again = connect(nodeC, fixture.scriptDoc, editorUser.token);
      await synced(again);
      expect(again.text()).toBe(expected);
      expect(await store.load(fixture.scriptDoc)).toEqual(before);
    } finally {
      await nodeC.close();
    }
  });

  it('misses no update published while a node is still loading the document', async () => {
    const fixture = await project();
    const [alice, bob] = await Promise.all([
      fixture.user('Alice', 'editor'),
      fixture.user('Bob', 'editor'),
    ]);
    // Node C reads the store, then is held back before it applies what it read.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readDone!: () => void;
    const read = new Promise<void>((resolve) => {
      readDone = resolve;
    });
    const nodeC = await startRealtimeNode(database, {
      redisKeyPrefix: prefix,
      wrapStore: (real) => ({
        append: (docName, update) => real.append(docName, update),
        compact: (docName, compaction) => real.compact(docName, compaction),
        async load(docName) {
          const stored = await real.load(docName);
          readDone();
          await gate;
          return stored;
        },
      }),
    });
    fixture.user; // tokens are registered per node: register Bob on node C too
    nodeC.access.tokens.set(bob.token, { userId: bob.userId, name: bob.name });
    try {
      const a = connect(nodeA, fixture.scriptDoc, alice.token);
      await synced(a);
      a.doc.getText('script').insert(0, 'stored before the load. ');
      await vi.waitFor(async () =>
        expect(await storedText(store, fixture.scriptDoc)).toContain('before'),
      );

      const buffered: number[] = [];
      nodeC.realtime.documents.on('remote', (_doc, kind, wasBuffered) => {
        if (kind === DocumentBusMessageKind.Update && wasBuffered) buffered.push(kind);
      });
      const b = connect(nodeC, fixture.scriptDoc, bob.token);
      await read;
      a.doc.getText('script').insert(0, 'Published during the load: ');
      // Wait until node C has the update in its buffer... it only knows once it applies it, so
      // wait until the update is stored and published, then let the load finish.
      await vi.waitFor(async () =>
        expect(await storedText(store, fixture.scriptDoc)).toContain('during'),
      );
      release();
      await synced(b);
      await vi.waitFor(() => expect(b.text()).toBe(a.text()), WAIT);
      expect(b.text()).toBe('Published during the load: stored before the load. ');
    } finally {
      release();
      await nodeC.close();
    }
  });
});
