import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import {
  connectRooms,
  joinProject,
  leaveProject,
  openProjectDocument,
  ReelroomApiError,
  ReelroomClient,
  RoomError,
  type RoomSocket,
  sendChat,
  type Tokens,
} from '../../client-sdk/index.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;

beforeAll(async () => {
  node = await startTestNode({ database: 'pglite' });
});
afterAll(async () => {
  await node?.close();
});

function client(tokens?: Tokens): ReelroomClient {
  return new ReelroomClient({ baseUrl: node.url, ...(tokens ? { tokens } : {}) });
}

describe('client SDK against a running node', () => {
  it('signs up, shares a project with a second user and sees the contract errors', async () => {
    const owner = client();
    const session = await owner.auth.signup({
      email: 'sdk-owner@example.com',
      password: 'correct horse battery',
      name: 'Owner',
    });
    expect((await owner.auth.me()).id).toBe(session.user.id);
    const [workspace] = await owner.workspaces.list();
    expect(workspace?.name).toBe("Owner's workspace");
    if (!workspace) throw new Error('no first workspace');

    const project = await owner.projects.create({
      workspaceId: workspace.id,
      title: 'Launch video',
      topic: 'the launch',
    });
    const viewer = client();
    await viewer.auth.signup({
      email: 'sdk-viewer@example.com',
      password: 'correct horse battery',
      name: 'Viewer',
    });
    await owner.workspaces.addMember(workspace.id, 'sdk-viewer@example.com', 'viewer');
    expect((await viewer.projects.get(project.id)).title).toBe('Launch video');

    const refused = await viewer.projects.update(project.id, { title: 'Hijacked' }).catch((e) => e);
    expect(refused).toBeInstanceOf(ReelroomApiError);
    expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await owner.projects.get(project.id)).title).toBe('Launch video');

    const page = await owner.workspaces.projects(workspace.id, { limit: 1 });
    expect(page.projects.map((p) => p.id)).toEqual([project.id]);
  });

  it('refreshes an expired access token once, even for concurrent calls', async () => {
    const first = client();
    const session = await first.auth.signup({
      email: 'sdk-refresh@example.com',
      password: 'correct horse battery',
      name: 'Refresher',
    });
    const seen: Array<Tokens | undefined> = [];
    // An access token the server refuses stands in for one that expired.
    const stale = new ReelroomClient({
      baseUrl: node.url,
      tokens: { accessToken: 'expired.token.value', refreshToken: session.refreshToken },
      onTokens: (tokens) => seen.push(tokens),
    });
    const users = await Promise.all([stale.auth.me(), stale.auth.me(), stale.workspaces.list()]);
    expect(users[0]).toMatchObject({ id: session.user.id });
    // One rotation: a second use of the old refresh token would have revoked the family.
    expect(seen).toHaveLength(1);
    expect(stale.tokens?.refreshToken).not.toBe(session.refreshToken);
    expect((await stale.auth.me()).id).toBe(session.user.id);

    await stale.auth.logout();
    expect(stale.tokens).toBeUndefined();
    const afterLogout = await client({
      accessToken: 'expired.token.value',
      refreshToken: seen[0]?.refreshToken ?? '',
    })
      .auth.me()
      .catch((e) => e);
    expect(afterLogout).toMatchObject({ status: 401 });
  });
});

describe('client SDK realtime helpers against a running node', () => {
  const WAIT = { timeout: 15_000, interval: 20 };

  /** An owner with a project, and a second user the owner adds with `role`. */
  async function team(role: 'editor' | 'viewer') {
    const owner = await node.signup('Owner');
    const member = await node.signup(role === 'editor' ? 'Editor' : 'Viewer');
    const sdk = client({ accessToken: owner.accessToken, refreshToken: owner.refreshToken });
    const [workspace] = await sdk.workspaces.list();
    const project = await sdk.projects.create({
      workspaceId: workspace!.id,
      title: 'Rooms',
      topic: 'realtime helpers',
    });
    await sdk.workspaces.addMember(workspace!.id, member.user.email, role);
    return { owner, member, projectId: project.id };
  }

  it('joins a project room, sends chat and turns refused acks into RoomError', async () => {
    const { owner, member, projectId } = await team('editor');
    const outsider = await node.signup('Outsider');
    const sockets: RoomSocket[] = [];
    try {
      const a = connectRooms({ baseUrl: node.url, token: owner.accessToken });
      const b = connectRooms({ baseUrl: node.url, token: () => member.accessToken });
      const c = connectRooms({ baseUrl: node.url, token: outsider.accessToken });
      sockets.push(a, b, c);
      await Promise.all([joinProject(a, projectId), joinProject(b, projectId)]);
      const refused = await joinProject(c, projectId).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RoomError);
      expect(refused).toMatchObject({ code: 'forbidden' });

      const seen: string[] = [];
      b.on('chat:message', ({ message }) => seen.push(message.content));
      const messageId = await sendChat(a, projectId, 'Hello room');
      await vi.waitFor(() => expect(seen).toEqual(['Hello room']), WAIT);
      expect(typeof messageId).toBe('string');

      await leaveProject(a, projectId);
      const notJoined = await sendChat(a, projectId, 'After leaving').catch((e: unknown) => e);
      expect(notJoined).toMatchObject({ name: 'RoomError', code: 'not_joined' });

      const bad = connectRooms({ baseUrl: node.url, token: 'not-a-token' });
      sockets.push(bad);
      const error = await new Promise<Error>((resolve) => bad.once('connect_error', resolve));
      expect(error.message).toBeTruthy();
      expect(bad.connected).toBe(false);
    } finally {
      for (const socket of sockets) socket.disconnect();
    }
  });

  it('opens the script document in Node: edits travel, the server keeps them, viewers only read', async () => {
    const { owner, member: viewer, projectId } = await team('viewer');
    const open = (token: string) =>
      openProjectDocument({
        baseUrl: node.url,
        token,
        projectId,
        kind: 'script',
        WebSocketPolyfill: WebSocket,
        // Two users in one process: no shortcut between their documents.
        disableBc: true,
      });
    const editing = open(owner.accessToken);
    const reading = open(viewer.accessToken);
    try {
      await vi.waitFor(() => {
        expect(editing.provider.synced).toBe(true);
        expect(reading.provider.synced).toBe(true);
      }, WAIT);
      editing.doc.getText('script').insert(0, 'Cold open: the team at work.');
      await vi.waitFor(
        () => expect(reading.doc.getText('script').toString()).toBe('Cold open: the team at work.'),
        WAIT,
      );
      reading.doc.getText('script').insert(0, 'IGNORED ');
      const script = async () => {
        const response = await node.request(`/api/v1/projects/${projectId}/script`, {
          token: owner.accessToken,
        });
        return ((await response.json()) as { script: { text: string } }).script.text;
      };
      await vi.waitFor(
        async () => expect(await script()).toBe('Cold open: the team at work.'),
        WAIT,
      );
      // The viewer's update reached neither the server nor the editor.
      editing.doc.getText('script').insert(0, '1. ');
      await vi.waitFor(
        async () => expect(await script()).toBe('1. Cold open: the team at work.'),
        WAIT,
      );
      expect(editing.doc.getText('script').toString()).toBe('1. Cold open: the team at work.');
    } finally {
      for (const { provider, doc } of [editing, reading]) {
        provider.destroy();
        doc.destroy();
      }
    }
  });
});
