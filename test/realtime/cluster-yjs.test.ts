// Yjs sync against real API node processes (server/api-main.ts) on one Postgres and one Redis,
// with stock y-websocket clients: convergence, viewers, refusals, live permissions, restarts
// and a node killed with SIGKILL while clients type.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { CloseCodes } from '../../shared/close-codes.ts';
import { yjsDocName } from '../../shared/yjs-docs.ts';
import {
  ApiCluster,
  connectSocket,
  connectYjs,
  docFromStore,
  FailoverProxy,
  type Rest,
  stateVector,
  type TestSocket,
  type YjsClient,
} from './support/cluster.ts';
import { seededRandom } from './support/realtime-fixture.ts';

const WAIT = { timeout: 20_000, interval: 20 };

describe('Yjs sync on two API node processes (Postgres + Redis)', () => {
  let cluster: ApiCluster;
  let rest: Rest;
  const clients: YjsClient[] = [];
  const sockets: TestSocket[] = [];

  const connect = (...args: Parameters<typeof connectYjs>) => {
    const client = connectYjs(...args);
    clients.push(client);
    return client;
  };
  const nodeA = () => cluster.nodes[0]!;
  const nodeB = () => cluster.nodes[1]!;

  /** A project owned by a fresh user, with fresh members of the given roles. */
  async function team(...roles: Array<'editor' | 'viewer'>) {
    const owner = await rest.signup('Owner');
    const { workspaceId, projectId } = await rest.project(owner);
    const members: Session[] = [];
    for (const [i, role] of roles.entries()) {
      const member = await rest.signup(`${role} ${i + 1}`);
      await rest.addMember(owner, workspaceId, member, role);
      members.push(member);
    }
    return { owner, workspaceId, projectId, members, script: yjsDocName(projectId, 'script') };
  }

  async function synced(...list: YjsClient[]): Promise<void> {
    await vi.waitFor(() => {
      for (const client of list) expect(client.provider.synced).toBe(true);
    }, WAIT);
  }

  async function converged(list: YjsClient[]): Promise<void> {
    await vi.waitFor(() => {
      const [first, ...rest] = list;
      for (const client of rest) {
        expect(client.text()).toBe(first!.text());
        expect(stateVector(client.doc)).toEqual(stateVector(first!.doc));
      }
    }, WAIT);
  }

  beforeAll(async () => {
    cluster = await ApiCluster.start(2);
    rest = cluster.rest;
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
    for (const socket of sockets.splice(0)) socket.disconnect();
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('converges after seeded random concurrent edits on both nodes, and the database agrees', async () => {
    const { members, script, owner, projectId } = await team('editor', 'editor', 'editor');
    const tokens = [owner, ...members].map((session) => session.accessToken);
    const editors = tokens.map((token, i) =>
      connect((i % 2 ? nodeB() : nodeA()).wsUrl, script, token),
    );
    await synced(...editors);

    const random = seededRandom(0x5eed);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz ';
    for (let round = 0; round < 80; round += 1) {
      for (const client of editors) {
        const text = client.doc.getText('script');
        if (text.length > 0 && random() < 0.3) {
          const index = Math.floor(random() * text.length);
          text.delete(index, Math.min(1 + Math.floor(random() * 3), text.length - index));
        } else {
          let chunk = '';
          for (let i = 0, n = 1 + Math.floor(random() * 5); i < n; i += 1) {
            chunk += alphabet[Math.floor(random() * alphabet.length)];
          }
          text.insert(Math.floor(random() * (text.length + 1)), chunk);
        }
      }
      // Let messages flow now and then, so edits are concurrent but not all blind.
      if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 5));
    }

    await converged(editors);
    const expected = editors[0]!;
    expect(expected.text().length).toBeGreaterThan(0);
    const fromDb = await docFromStore(cluster.store, script);
    expect(fromDb.getText('script').toString()).toBe(expected.text());
    expect(stateVector(fromDb)).toEqual(stateVector(expected.doc));

    // The REST view of the script reads the same document, for any member, on any node.
    const viaRest = await rest.call(owner.accessToken, 'GET', `/projects/${projectId}/script`);
    expect(await viaRest.json()).toEqual({ script: { projectId, text: expected.text() } });
  });

  it('gives a viewer the document and presence, but its edits land nowhere', async () => {
    const { owner, members, script, projectId } = await team('viewer');
    const viewerSession = members[0]!;
    const editor = connect(nodeA().wsUrl, script, owner.accessToken);
    await synced(editor);
    editor.doc.getText('script').insert(0, 'Hello');
    const viewer = connect(nodeB().wsUrl, script, viewerSession.accessToken);
    await synced(viewer);
    await vi.waitFor(() => expect(viewer.text()).toBe('Hello'), WAIT);

    viewer.doc.getText('script').insert(0, 'VIEWER ');
    viewer.provider.awareness.setLocalStateField('user', { name: 'Viewer' });
    editor.doc.getText('script').insert(5, ' world');
    // The viewer's presence reaches the editor on the other node; its edit does not.
    await vi.waitFor(() => {
      // `user` as the server knows the connection (its display name and id), not as sent.
      expect([...editor.provider.awareness.getStates().values()]).toContainEqual({
        user: { name: viewerSession.user.name, id: viewerSession.user.id },
      });
      expect(viewer.text()).toContain(' world');
    }, WAIT);
    // A fresh client on either node and the database hold no trace of the viewer's edit.
    const late = connect(nodeB().wsUrl, script, owner.accessToken);
    await synced(late);
    expect(late.text()).toBe('Hello world');
    expect(editor.text()).toBe('Hello world');
    expect((await docFromStore(cluster.store, script)).getText('script').toString()).toBe(
      'Hello world',
    );
    // Viewers may read the script over REST too.
    const viaRest = await rest.call(
      viewerSession.accessToken,
      'GET',
      `/projects/${projectId}/script`,
    );
    expect(viaRest.status).toBe(200);
  });

  it('refuses non-members (4403), missing or bad tokens (4401) and other documents (4404)', async () => {
    const { owner, script, projectId } = await team();
    const stranger = await rest.signup('Stranger');
    const cases = [
      { client: connect(nodeA().wsUrl, script, stranger.accessToken), code: CloseCodes.Forbidden },
      { client: connect(nodeB().wsUrl, script, 'not-a-token'), code: CloseCodes.Unauthorized },
      { client: connect(nodeA().wsUrl, script, null), code: CloseCodes.Unauthorized },
      {
        client: connect(nodeB().wsUrl, `project/${projectId}/notes`, owner.accessToken),
        code: CloseCodes.UnknownDocument,
      },
    ];
    for (const { client, code } of cases) {
      await vi.waitFor(() => expect(client.closeCodes).toContain(code), WAIT);
      expect(client.provider.synced).toBe(false);
      // 44xx codes are final: the stock client stops reconnecting.
      expect(client.provider.shouldConnect).toBe(false);
    }
    expect(await cluster.store.load(script)).toMatchObject({ snapshot: null, updates: [] });
    // The REST script is as private as the project.
    const response = await rest.call(stranger.accessToken, 'GET', `/projects/${projectId}/script`);
    expect(response.status).toBe(404);
  });

  it('follows a demotion and a removal made on node A on node B', async () => {
    const { owner, workspaceId, projectId, members, script } = await team('editor', 'editor');
    const [demotedSession, removedSession] = members as [Session, Session];
    const ownerClient = connect(nodeA().wsUrl, script, owner.accessToken);
    const demoted = connect(nodeB().wsUrl, script, demotedSession.accessToken);
    const removed = connect(nodeB().wsUrl, script, removedSession.accessToken);
    const removedSocket = connectSocket(nodeB().url, removedSession.accessToken);
    sockets.push(removedSocket);
    await synced(ownerClient, demoted, removed);
    expect(await removedSocket.emitWithAck('project:join', { projectId })).toEqual({ ok: true });
    demoted.doc.getText('script').insert(0, 'before ');
    await vi.waitFor(() => expect(ownerClient.text()).toBe('before '), WAIT);

    let socketGone = false;
    removedSocket.on('disconnect', () => {
      socketGone = true;
    });
    // Both changes go through node A's REST API; the connections live on node B. Node A
    // publishes them in this order on one Redis connection, so once the removal has arrived on
    // node B, the demotion has too.
    await rest.setRole(owner, workspaceId, demotedSession, 'viewer');
    await rest.removeMember(owner, workspaceId, removedSession);
    await vi.waitFor(() => {
      expect(removed.closeCodes).toContain(CloseCodes.Forbidden);
      expect(socketGone).toBe(true);
    }, WAIT);

    demoted.doc.getText('script').insert(0, 'after ');
    ownerClient.doc.getText('script').insert(7, '!');
    // The owner's later edit reaches the demoted client, whose own edit never reaches anyone.
    await vi.waitFor(() => expect(demoted.text()).toContain('!'), WAIT);
    expect(ownerClient.text()).toBe('before !');

    // Nothing of the demoted editor's late edit was stored; a fresh client sees none of it.
    const fresh = connect(nodeA().wsUrl, script, owner.accessToken);
    await synced(fresh);
    expect(fresh.text()).toBe('before !');
    expect((await docFromStore(cluster.store, script)).getText('script').toString()).toBe(
      'before !',
    );
    // The removed member cannot come back.
    const again = connect(nodeA().wsUrl, script, removedSession.accessToken);
    await vi.waitFor(() => expect(again.closeCodes).toContain(CloseCodes.Forbidden), WAIT);
  });

  it('after a restart of both nodes every client sees the same content and state vector', async () => {
    const { owner, members, script, projectId } = await team('editor');
    const plan = yjsDocName(projectId, 'plan');
    const a = connect(nodeA().wsUrl, script, owner.accessToken);
    const b = connect(nodeB().wsUrl, script, members[0]!.accessToken);
    const planClient = connect(nodeB().wsUrl, plan, owner.accessToken);
    await synced(a, b, planClient);
    for (let i = 0; i < 30; i += 1) {
      (i % 2 ? a : b).doc.getText('script').insert(0, `${i} `);
    }
    planClient.doc.getMap('plan').set('phase', 'research');
    planClient.doc.getArray('decisions').push([{ category: 'pricing', text: '$9' }]);
    await converged([a, b]);
    await vi.waitFor(async () => {
      const stored = await docFromStore(cluster.store, plan);
      expect(stored.getArray('decisions').length).toBe(1);
    }, WAIT);
    const before = { text: a.text(), vector: stateVector(a.doc) };

    // Graceful stop of both nodes (every accepted update stored, logs compacted), then start.
    await Promise.all([nodeA().stop('SIGTERM'), nodeB().stop('SIGTERM')]);
    await Promise.all([nodeA().start(), nodeB().start()]);

    // The same clients reconnect by themselves; fresh clients load from the database.
    await vi.waitFor(() => {
      for (const client of [a, b, planClient]) {
        expect(client.provider.wsconnected).toBe(true);
        expect(client.provider.synced).toBe(true);
      }
    }, WAIT);
    const freshA = connect(nodeA().wsUrl, script, owner.accessToken);
    const freshB = connect(nodeB().wsUrl, script, members[0]!.accessToken);
    const freshPlan = connect(nodeA().wsUrl, plan, owner.accessToken);
    await synced(freshA, freshB, freshPlan);
    for (const client of [a, b, freshA, freshB]) {
      expect(client.text()).toBe(before.text);
      expect(stateVector(client.doc)).toEqual(before.vector);
    }
    expect(freshPlan.doc.getMap('plan').get('phase')).toBe('research');
    expect(freshPlan.doc.getArray('decisions').toJSON()).toEqual([
      { category: 'pricing', text: '$9' },
    ]);
    // Shutting down compacted the log into a snapshot.
    const stored = await cluster.store.load(script);
    expect(stored.snapshot).not.toBeNull();
  });

  it('loses no edit when a node is killed with SIGKILL while clients type', async () => {
    const { owner, members, script } = await team('editor', 'editor', 'editor');
    const sessions = [owner, ...members];
    // Two clients reach node A through a balancer that fails over to node B; two sit on B.
    const proxy = await new FailoverProxy([nodeA(), nodeB()]).listen();
    try {
      const editors = sessions.map((session, i) =>
        connect(i < 2 ? proxy.wsUrl : nodeB().wsUrl, script, session.accessToken),
      );
      await synced(...editors);

      // Every client inserts unique marks at random places; none are ever deleted, so the
      // final document must contain every mark any client made.
      const random = seededRandom(0xdead);
      const made: string[] = [];
      let killed: Promise<number | null> | null = null;
      for (let round = 0; round < 60; round += 1) {
        for (const [i, client] of editors.entries()) {
          const text = client.doc.getText('script');
          const mark = `<${i}.${round}>`;
          // Insert between two marks, never inside one, so each stays a findable substring.
          const current = text.toString();
          const boundaries = [0];
          for (let at = current.indexOf('>'); at !== -1; at = current.indexOf('>', at + 1)) {
            boundaries.push(at + 1);
          }
          text.insert(boundaries[Math.floor(random() * boundaries.length)]!, mark);
          made.push(mark);
        }
        if (round === 20) killed = nodeA().stop('SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await killed;
      // The clients behind the balancer lost node A mid-typing and moved to node B.
      for (const client of editors.slice(0, 2)) expect(client.closeCodes).not.toEqual([]);

      await vi.waitFor(() => {
        for (const client of editors) expect(client.provider.synced).toBe(true);
      }, WAIT);
      await converged(editors);
      for (const client of editors) {
        const text = client.text();
        for (const mark of made) expect(text).toContain(mark);
      }
      // Every edit is in the database too: it alone rebuilds the same document.
      await vi.waitFor(async () => {
        const fromDb = await docFromStore(cluster.store, script);
        expect(fromDb.getText('script').toString()).toBe(editors[0]!.text());
        expect(stateVector(fromDb)).toEqual(stateVector(editors[0]!.doc));
      }, WAIT);
    } finally {
      await proxy.close();
    }
  });
});
