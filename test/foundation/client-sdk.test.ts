import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReelroomApiError, ReelroomClient, type Tokens } from '../../client-sdk/index.ts';
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
