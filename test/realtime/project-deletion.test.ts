// Deleting a project ends its realtime life on every node: Yjs connections to its documents
// close with 4404 and stay closed, sockets in its room are told and leave it, and nothing of
// its documents is written afterwards. First on two real API node processes sharing Postgres
// and Redis, then on the document core alone for what a cluster cannot show step by step
// (appends in flight and queued, admissions in progress).
import * as encoding from 'lib0/encoding';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';
import {
  type AccessCheck,
  type Compaction,
  DocumentManager,
  type DocumentPeer,
  type DocumentStore,
  openRedisConnections,
  type ProjectAccess,
  type RealtimeLogger,
  type RedisConnections,
  RedisRoomEmitter,
  type StoredDocument,
} from '../../realtime/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { CloseCodes } from '../../shared/close-codes.ts';
import type { RenderProgressEvent } from '../../shared/socket-events.ts';
import { yjsDocName } from '../../shared/yjs-docs.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import {
  ApiCluster,
  connectSocket,
  connectYjs,
  type Rest,
  type TestSocket,
  type YjsClient,
} from './support/cluster.ts';

const WAIT = { timeout: 20_000, interval: 20 };

describe('project deletion on two API node processes (Postgres + Redis)', () => {
  let cluster: ApiCluster;
  let rest: Rest;
  let emitter: RedisRoomEmitter;
  let connections: RedisConnections | undefined;
  const clients: YjsClient[] = [];
  const sockets: TestSocket[] = [];

  const nodeA = () => cluster.nodes[0]!;
  const nodeB = () => cluster.nodes[1]!;
  const connect = (...args: Parameters<typeof connectYjs>) => {
    const client = connectYjs(...args);
    clients.push(client);
    return client;
  };
  const open = (...args: Parameters<typeof connectSocket>) => {
    const socket = connectSocket(...args);
    sockets.push(socket);
    return socket;
  };

  async function siblingProject(owner: Session, workspaceId: string): Promise<string> {
    const { project } = await rest.expectJson<{ project: { id: string } }>(
      await rest.call(owner.accessToken, 'POST', '/projects', {
        workspaceId,
        title: 'Teaser',
        topic: 'CRDTs, short',
      }),
      201,
    );
    return project.id;
  }

  /** What a socket receives: `project:deleted` and render progress. */
  function watch(socket: TestSocket) {
    const seen = { deleted: [] as unknown[], renders: [] as string[] };
    socket.on('project:deleted', (event) => seen.deleted.push(event));
    socket.on('render:progress', (event: RenderProgressEvent) => seen.renders.push(event.renderId));
    return seen;
  }

  /** A Yjs client's final close, and every (re)connection attempt after its first. */
  function watchYjs(client: YjsClient) {
    const seen = {
      statuses: [] as string[],
      final: [] as Array<{ code: number; reason: string }>,
    };
    client.provider.on('closed', (event) => seen.final.push(event));
    client.provider.on('status', ({ status }) => seen.statuses.push(status));
    return seen;
  }

  beforeAll(async () => {
    cluster = await ApiCluster.start(2);
    rest = cluster.rest;
    connections = await openRedisConnections({ url: TEST_REDIS_URL, name: 'test emitter' });
    emitter = new RedisRoomEmitter({
      redis: connections.shared,
      keyPrefix: cluster.redisKeyPrefix,
    });
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
    for (const socket of sockets.splice(0)) socket.disconnect();
  });

  afterAll(async () => {
    await emitter?.close();
    await connections?.close();
    await cluster?.close();
  });

  it('closes its documents (4404, for good) and its room on both nodes, stores nothing of them, and leaves the sibling project alone', async () => {
    const owner = await rest.signup('Owner');
    const editor = await rest.signup('Editor');
    const { workspaceId, projectId } = await rest.project(owner);
    await rest.addMember(owner, workspaceId, editor, 'editor');
    const siblingId = await siblingProject(owner, workspaceId);

    const doomedDocs = [yjsDocName(projectId, 'script'), yjsDocName(projectId, 'plan')];
    const doomed = [
      connect(nodeA().wsUrl, doomedDocs[0]!, owner.accessToken),
      connect(nodeB().wsUrl, doomedDocs[0]!, editor.accessToken),
      connect(nodeB().wsUrl, doomedDocs[1]!, editor.accessToken),
    ] as const;
    const survivors = [
      connect(nodeA().wsUrl, yjsDocName(siblingId, 'script'), owner.accessToken),
      connect(nodeB().wsUrl, yjsDocName(siblingId, 'script'), editor.accessToken),
    ] as const;
    await vi.waitFor(() => {
      for (const client of [...doomed, ...survivors]) expect(client.provider.synced).toBe(true);
    }, WAIT);
    doomed[0].doc.getText('script').insert(0, 'Draft');
    await vi.waitFor(() => expect(doomed[1].text()).toBe('Draft'), WAIT);

    const ownerSocket = open(nodeA().url, owner.accessToken);
    const editorSocket = open(nodeB().url, editor.accessToken);
    await vi.waitFor(() => {
      expect(ownerSocket.connected && editorSocket.connected).toBe(true);
    }, WAIT);
    for (const socket of [ownerSocket, editorSocket]) {
      for (const id of [projectId, siblingId]) {
        expect(await socket.emitWithAck('project:join', { projectId: id })).toEqual({ ok: true });
      }
    }
    const seenBySockets = [ownerSocket, editorSocket].map(watch);
    const seenByDoomed = doomed.map(watchYjs);
    const seenBySurvivors = survivors.map(watchYjs);

    // The editor keeps typing on node B while the project goes: appends racing the delete fail
    // on the missing project and must not take the node down.
    const typing = setInterval(() => doomed[1].doc.getText('script').insert(0, 'x'), 5);
    const response = await rest.call(owner.accessToken, 'DELETE', `/projects/${projectId}`);
    expect(response.status).toBe(204);

    try {
      await vi.waitFor(() => {
        for (const client of doomed) {
          expect(client.closeCodes).toEqual([CloseCodes.UnknownDocument]);
        }
        for (const seen of seenBySockets) expect(seen.deleted).toEqual([{ projectId }]);
      }, WAIT);
    } finally {
      clearInterval(typing);
    }

    // For good: no reconnection attempt in the next second and a half.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [i, client] of doomed.entries()) {
      expect(client.closeCodes).toEqual([CloseCodes.UnknownDocument]);
      expect(client.provider.wsconnected).toBe(false);
      expect(client.provider.shouldConnect).toBe(false);
      expect(seenByDoomed[i]!.statuses).toEqual(['disconnected']);
      expect(seenByDoomed[i]!.final).toEqual([
        { code: CloseCodes.UnknownDocument, reason: 'project deleted' },
      ]);
    }
    // Neither the racing appends nor a compaction on unload left anything of its documents.
    for (const docName of doomedDocs) {
      expect(await cluster.store.load(docName)).toMatchObject({ snapshot: null, updates: [] });
    }

    // The sockets left the room: a room event after the deletion does not reach them, while one
    // to the sibling project, emitted after it on the same stream, does.
    await emitter.emit(projectId, 'render:progress', {
      renderId: 'deleted',
      status: 'running',
      progress: 0.5,
    });
    await emitter.emit(siblingId, 'render:progress', {
      renderId: 'sibling',
      status: 'running',
      progress: 0.5,
    });
    await vi.waitFor(() => {
      for (const seen of seenBySockets) expect(seen.renders).toContain('sibling');
    }, WAIT);
    for (const seen of seenBySockets) expect(seen.renders).toEqual(['sibling']);

    // The hubs forgot the joins, but the sockets stay connected.
    for (const socket of [ownerSocket, editorSocket]) {
      expect(socket.connected).toBe(true);
      expect(
        await socket.emitWithAck('chat:send', { projectId, content: 'still there?' }),
      ).toMatchObject({ error: { code: 'not_joined' } });
      expect(await socket.emitWithAck('project:join', { projectId })).toMatchObject({
        error: { code: 'forbidden' },
      });
    }

    // The sibling's documents never noticed, and both nodes still sync them.
    for (const [i, client] of survivors.entries()) {
      expect(client.closeCodes).toEqual([]);
      expect(client.provider.wsconnected).toBe(true);
      expect(seenBySurvivors[i]!.statuses).toEqual([]);
    }
    survivors[0].doc.getText('script').insert(0, 'Still here');
    await vi.waitFor(() => expect(survivors[1].text()).toBe('Still here'), WAIT);

    // Neither node crashed nor logged the racing appends as more than a warning.
    for (const node of cluster.nodes) {
      expect(node.process?.child.exitCode).toBe(null);
      const logged = node.process?.output.join('\n') ?? '';
      expect(logged).not.toMatch(/unhandled|"level":(50|60|"error"|"fatal")/i);
    }
  });
});

describe('DocumentManager.applyProjectDeleted', () => {
  const DOOMED = 'project-doomed';
  const SIBLING = 'project-sibling';
  const access: ProjectAccess = { workspaceId: 'workspace', role: 'editor' };

  /** An in-memory store that records every write and can hold appends back. */
  class RecordingStore implements DocumentStore {
    readonly appends: string[] = [];
    readonly compactions: string[] = [];
    holdAppends = false;
    readonly #held: Array<(error?: Error) => void> = [];

    async load(): Promise<StoredDocument> {
      return { snapshot: null, snapshotVersion: 0, updates: [] };
    }

    append(docName: string): Promise<void> {
      this.appends.push(docName);
      if (!this.holdAppends) return Promise.resolve();
      return new Promise((resolve, reject) => {
        this.#held.push((error) => (error ? reject(error) : resolve()));
      });
    }

    async compact(docName: string, _compaction: Compaction): Promise<boolean> {
      this.compactions.push(docName);
      return true;
    }

    /** Ends the held appends as the deleted project's missing row makes them end. */
    failHeld(): void {
      for (const settle of this.#held.splice(0)) {
        settle(new Error('insert violates foreign key constraint "yjs_updates_project_id_fk"'));
      }
    }
  }

  /** A y-websocket sync message carrying one edit, as a client sends it. */
  function clientEdit(text: string): Uint8Array {
    const doc = new Y.Doc();
    doc.getText('script').insert(0, text);
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0); // message type: sync
    syncProtocol.writeUpdate(encoder, Y.encodeStateAsUpdate(doc));
    doc.destroy();
    return encoding.toUint8Array(encoder);
  }

  function fakePeer() {
    const closed: Array<{ code: number; reason: string }> = [];
    const peer: DocumentPeer = {
      send() {},
      close: (code, reason) => closed.push({ code, reason }),
    };
    return { peer, closed };
  }

  function recordingLogger() {
    const lines: Array<{ level: string; message: string }> = [];
    const record = (level: string) => (_context: object, message: string) =>
      lines.push({ level, message });
    const logger: RealtimeLogger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    return { logger, lines };
  }

  let manager: DocumentManager | null = null;
  afterEach(async () => {
    await manager?.close();
    manager = null;
  });

  it('closes admitted and admitting connections with 4404 and drops the documents without writing', async () => {
    const store = new RecordingStore();
    const { logger, lines } = recordingLogger();
    let releaseAdmission: () => void = () => {};
    const admissionHeld = new Promise<void>((resolve) => {
      releaseAdmission = resolve;
    });
    const accessCheck: AccessCheck = {
      authenticate: async (token) => ({ userId: token, name: token }),
      projectAccess: async (userId) => {
        if (userId === 'late') await admissionHeld;
        return access;
      },
    };
    manager = new DocumentManager({ store, access: accessCheck, logger });
    const unloaded: string[] = [];
    manager.on('unloaded', (docName) => unloaded.push(docName));

    const script = yjsDocName(DOOMED, 'script');
    const plan = yjsDocName(DOOMED, 'plan');
    const sibling = yjsDocName(SIBLING, 'script');
    const peers = {
      script: fakePeer(),
      plan: fakePeer(),
      sibling: fakePeer(),
      late: fakePeer(),
    };
    const scriptConnection = manager.openConnection(peers.script.peer, {
      docName: script,
      token: 'editor',
    });
    manager.openConnection(peers.plan.peer, { docName: plan, token: 'editor' });
    const siblingConnection = manager.openConnection(peers.sibling.peer, {
      docName: sibling,
      token: 'editor',
    });
    await vi.waitFor(() => expect(manager!.connectionCount).toBe(3));
    const late = manager.openConnection(peers.late.peer, { docName: script, token: 'late' });

    // One server edit's append in flight, a second one queued behind it.
    store.holdAppends = true;
    const edit = (text: string) => (doc: Y.Doc) => doc.getText('script').insert(0, text);
    const inFlight = manager.editDocument(script, edit('a'));
    await vi.waitFor(() => expect(store.appends).toEqual([script]));
    const queued = manager.editDocument(script, edit('b'));
    const outcomes = Promise.allSettled([inFlight, queued]);

    manager.applyProjectDeleted(DOOMED);

    const deleted = { code: CloseCodes.UnknownDocument, reason: 'project deleted' };
    expect(peers.script.closed).toEqual([deleted]);
    expect(peers.plan.closed).toEqual([deleted]);
    expect(peers.late.closed).toEqual([deleted]);
    expect(scriptConnection.state).toBe('closed');
    expect(late.state).toBe('closed');
    expect(peers.sibling.closed).toEqual([]);
    expect(siblingConnection.state).toBe('open');
    // The plan was held by nobody else: gone at once, not after the 30 s grace period.
    await vi.waitFor(() => expect(unloaded).toEqual([plan]));
    // A new user of the deleted document is refused rather than handed the dead copy.
    await expect(manager.editDocument(script, edit('c'))).rejects.toThrow(/deleted/);

    // The in-flight append fails on the missing project; the queued one is never tried.
    store.failHeld();
    releaseAdmission();
    const [first, second] = await outcomes;
    expect(first.status).toBe('rejected');
    expect(second.status).toBe('rejected');
    await vi.waitFor(() => expect(unloaded.sort()).toEqual([plan, script].sort()));
    expect(manager.loadedDocuments).toEqual([sibling]);
    expect(store.appends).toEqual([script]);
    expect(store.compactions).toEqual([]);
    // The failures went back to the edits' callers; nothing was worth more than a warning.
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('tells the client of a deleted project whose append failed to stop (4404) before the notice arrives, and anyone else to retry (4503)', async () => {
    let projectGone = false;
    const store: DocumentStore = {
      load: async () => ({ snapshot: null, snapshotVersion: 0, updates: [] }),
      append: async () => {
        throw new Error(projectGone ? 'foreign key violation' : 'connection terminated');
      },
      compact: async () => false,
    };
    const accessCheck: AccessCheck = {
      authenticate: async (token) => ({ userId: token, name: token }),
      projectAccess: async () => (projectGone ? null : access),
    };
    const { logger, lines } = recordingLogger();
    manager = new DocumentManager({ store, access: accessCheck, logger });
    const open = (docName: string) => {
      const { peer, closed } = fakePeer();
      return { connection: manager!.openConnection(peer, { docName, token: 'editor' }), closed };
    };

    const outage = open(yjsDocName(SIBLING, 'script'));
    await vi.waitFor(() => expect(outage.connection.state).toBe('open'));
    outage.connection.receive(clientEdit('lost to an outage'));
    await vi.waitFor(() =>
      expect(outage.closed).toEqual([
        { code: CloseCodes.Unavailable, reason: 'update could not be stored' },
      ]),
    );

    const racing = open(yjsDocName(DOOMED, 'script'));
    await vi.waitFor(() => expect(racing.connection.state).toBe('open'));
    // The delete committed; this node has not been told yet.
    projectGone = true;
    racing.connection.receive(clientEdit('typed as it went'));
    await vi.waitFor(() =>
      expect(racing.closed).toEqual([
        { code: CloseCodes.UnknownDocument, reason: 'project deleted' },
      ]),
    );
    // The outage is an error; the append that raced the deletion only a warning.
    expect(lines.map((line) => line.level)).toEqual(['error', 'warn']);
  });
});
