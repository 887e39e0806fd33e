import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { Database } from '../../server/db/index.ts';
import { tables } from '../../server/db/index.ts';
import { YjsDocumentStore } from '../../server/realtime/index.ts';
import { databaseBackends } from '../support/databases.ts';
import { ProjectFixture } from './support/realtime-fixture.ts';

/** One edit of a fresh client to the script text, as a Yjs update. */
function edit(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('script').insert(0, text);
  return Y.encodeStateAsUpdate(doc);
}

function textOf(stored: Awaited<ReturnType<YjsDocumentStore['load']>>): string {
  const doc = new Y.Doc();
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
  for (const row of stored.updates) Y.applyUpdate(doc, row.update);
  return [...doc.getText('script').toString()].sort().join('');
}

describe.each(databaseBackends)('YjsDocumentStore on $name', (backend) => {
  let database: Database;
  let store: YjsDocumentStore;
  let project: ProjectFixture;

  beforeAll(async () => {
    database = await backend.open();
    store = new YjsDocumentStore(database.db);
    project = await new ProjectFixture(database.db, []).create();
  });
  afterAll(() => database?.close());

  it('loads nothing for a new document and never writes when loading', async () => {
    const stored = await store.load(project.planDoc);
    expect(stored).toEqual({ snapshot: null, snapshotVersion: 0, updates: [] });
    expect(await database.db.$count(tables.yjsUpdates)).toBe(0);
    expect(await database.db.$count(tables.yjsSnapshots)).toBe(0);
  });

  it('appends updates in order and loads them back byte for byte', async () => {
    const updates = [edit('a'), edit('b'), edit('c')];
    for (const update of updates) await store.append(project.scriptDoc, update);
    const stored = await store.load(project.scriptDoc);
    expect(stored.updates.map((row) => [...row.update])).toEqual(updates.map((u) => [...u]));
    expect(stored.updates[0]!.update).toBeInstanceOf(Uint8Array);
  });

  it('compacts into a snapshot and deletes exactly the merged rows, in one go', async () => {
    const before = await store.load(project.scriptDoc);
    // A row appended after the compaction read must survive it.
    await store.append(project.scriptDoc, edit('d'));
    const merged = new Y.Doc();
    for (const row of before.updates) Y.applyUpdate(merged, row.update);
    const done = await store.compact(project.scriptDoc, {
      snapshot: Y.encodeStateAsUpdate(merged),
      baseVersion: before.snapshotVersion,
      updateIds: before.updates.map((row) => row.id),
    });
    expect(done).toBe(true);
    const after = await store.load(project.scriptDoc);
    expect(after.snapshotVersion).toBe(1);
    expect(after.updates).toHaveLength(1);
    expect(textOf(after)).toBe('abcd');
  });

  it('refuses a compaction that started from an outdated snapshot version', async () => {
    const stale = await store.load(project.scriptDoc);
    const fresh = await store.load(project.scriptDoc);
    const snapshotOf = (stored: typeof stale) => {
      const doc = new Y.Doc();
      if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
      for (const row of stored.updates) Y.applyUpdate(doc, row.update);
      return Y.encodeStateAsUpdate(doc);
    };
    await store.append(project.scriptDoc, edit('e'));
    const first = await store.compact(project.scriptDoc, {
      snapshot: snapshotOf(fresh),
      baseVersion: fresh.snapshotVersion,
      updateIds: fresh.updates.map((row) => row.id),
    });
    const second = await store.compact(project.scriptDoc, {
      snapshot: snapshotOf(stale),
      baseVersion: stale.snapshotVersion,
      updateIds: stale.updates.map((row) => row.id),
    });
    expect([first, second]).toEqual([true, false]);
    expect(textOf(await store.load(project.scriptDoc))).toBe('abcde');
  });

  it('deletes a project’s documents with the project', async () => {
    const other = await new ProjectFixture(database.db, []).create();
    await store.append(other.scriptDoc, edit('x'));
    await database.db.delete(tables.projects);
    expect(await database.db.$count(tables.yjsUpdates)).toBe(0);
    expect(await database.db.$count(tables.yjsSnapshots)).toBe(0);
  });
});
