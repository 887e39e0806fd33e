import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tables } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { connectSocket } from '../realtime/support/clients.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { Tally } from './support.ts';

// Issue 15, item 4: adding a member by an email without an account was a 404 (an oracle of
// which emails have accounts); it is an invitation that the signup applies. A deleted user's
// access token still read on REST; it is refused as the socket handshake refuses it.

const password = 'correct horse battery';

describe.each(['pglite', 'postgres'] as const)('security: invitations on %s', (backend) => {
  let node: TestNode;
  let owner: Session;
  let workspaceId: string;
  beforeAll(async () => {
    node = await startTestNode({ database: backend });
    owner = await node.signup('Owner');
    workspaceId = (await (await call(owner, '/workspaces')).json()).workspaces[0].id;
  });
  afterAll(() => node?.close());

  const call = (session: Session, pathname: string, init: RequestInit & { json?: unknown } = {}) =>
    node.request(`/api/v1${pathname}`, { token: session.accessToken, ...init });
  const add = (email: string, role = 'editor', as: Session = owner) =>
    call(as, `/workspaces/${workspaceId}/members`, { method: 'POST', json: { email, role } });
  const signupAs = async (email: string) => {
    const response = await node.request('/api/v1/auth/signup', {
      method: 'POST',
      json: { email, password, name: 'Newcomer' },
    });
    expect(response.status).toBe(201);
    return (await response.json()) as Session;
  };

  it('an unknown email becomes an invitation that the signup turns into a membership', async () => {
    const tally = new Tally(`invitations-${backend}`);
    const email = `${randomUUID()}@example.test`;
    const invited = await add(email.toUpperCase());
    const body = await invited.json();
    tally.record(
      'unknown email is 202 {invitation}',
      invited.status === 202 &&
        body.invitation?.email === email &&
        body.invitation.role === 'editor'
        ? null
        : `${invited.status} ${JSON.stringify(body)}`,
    );
    const again = await add(email, 'viewer');
    tally.record(
      'inviting again is 409 already_invited',
      again.status === 409 && (await again.json()).error.code === 'already_invited'
        ? null
        : `${again.status}`,
    );
    const roster = await (await call(owner, `/workspaces/${workspaceId}/members`)).json();
    tally.record(
      'GET members lists the invitation apart from the members',
      roster.invitations.some((i: { email: string }) => i.email === email) &&
        !roster.members.some((m: { email: string }) => m.email === email)
        ? null
        : JSON.stringify(roster),
    );

    const newcomer = await signupAs(email);
    const workspaces = (await (await call(newcomer, '/workspaces')).json()).workspaces as Array<{
      id: string;
      role: string;
    }>;
    tally.record(
      'after signup the newcomer is an editor of the workspace',
      workspaces.find((w) => w.id === workspaceId)?.role === 'editor'
        ? null
        : JSON.stringify(workspaces),
    );
    const after = await (await call(owner, `/workspaces/${workspaceId}/members`)).json();
    tally.record(
      'the invitation is gone, the member is listed',
      !after.invitations.some((i: { email: string }) => i.email === email) &&
        after.members.some(
          (m: { email: string; role: string }) => m.email === email && m.role === 'editor',
        )
        ? null
        : JSON.stringify(after),
    );
    // The newcomer still got a first workspace of their own with the signup credits.
    tally.record(
      'the newcomer has their own workspace too',
      workspaces.length === 2 ? null : `${workspaces.length}`,
    );
    tally.report();
    expect(tally.broken).toEqual([]);
  });

  it('an existing user is added at once; owners revoke invitations; others cannot', async () => {
    const existing = await node.signup('Existing');
    const added = await add(existing.user.email, 'viewer');
    expect(added.status).toBe(201);
    expect((await added.json()).member).toMatchObject({ userId: existing.user.id, role: 'viewer' });

    const email = `${randomUUID()}@example.test`;
    const { invitation } = await (await add(email)).json();
    const path = `/workspaces/${workspaceId}/invitations/${invitation.id}`;
    expect((await call(existing, path, { method: 'DELETE' })).status).toBe(403);
    expect((await call(owner, path, { method: 'DELETE' })).status).toBe(204);
    expect((await call(owner, path, { method: 'DELETE' })).status).toBe(404);
    const newcomer = await signupAs(email);
    const workspaces = (await (await call(newcomer, '/workspaces')).json()).workspaces;
    expect(workspaces.map((w: { id: string }) => w.id)).not.toContain(workspaceId);
  });

  it('an invitation written while its signup committed is applied at the next login', async () => {
    const late = await node.signup('Late');
    // What a race between the invitation's check for an account and the signup leaves.
    await node.database.db.insert(tables.workspaceInvitations).values({
      id: randomUUID(),
      workspaceId,
      email: late.user.email,
      role: 'viewer',
      invitedBy: owner.user.id,
    });
    const login = await node.request('/api/v1/auth/login', {
      method: 'POST',
      json: { email: late.user.email, password },
    });
    expect(login.status).toBe(200);
    const { accessToken } = await login.json();
    const workspaces = (
      await (await node.request('/api/v1/workspaces', { token: accessToken })).json()
    ).workspaces;
    expect(workspaces).toContainEqual(expect.objectContaining({ id: workspaceId, role: 'viewer' }));
    expect(
      await node.database.db.$count(
        tables.workspaceInvitations,
        eq(tables.workspaceInvitations.email, late.user.email),
      ),
    ).toBe(0);
  });
});

describe.each(['pglite', 'postgres'] as const)('security: a deleted user on %s', (backend) => {
  let node: TestNode;
  let other: TestNode | undefined;
  beforeAll(async () => {
    node = await startTestNode({ database: backend });
    // On Postgres a second node shares the database: the deletion reaches its cache too.
    if (backend === 'postgres') {
      other = await startTestNode({
        database: node.database,
        config: { jwtSecret: node.jwtSecret },
      });
    }
  });
  afterAll(async () => {
    await other?.close();
    await node?.close();
  });

  it('is refused on REST and Socket.IO with their still-valid access token', async () => {
    const tally = new Tally(`deleted-user-token-${backend}`);
    const gone = await node.signup('Gone');
    const nodes = [node, ...(other ? [other] : [])];
    // Warm every cache on the way: the token verification and the user lookups.
    for (const target of nodes) {
      expect((await target.request('/api/v1/me', { token: gone.accessToken })).status).toBe(200);
    }
    // There is no deletion route yet; an operator deletes the row.
    const deletedAt = performance.now();
    await node.database.db.delete(tables.users).where(eq(tables.users.id, gone.user.id));
    // The delete trigger's notification reaches each node right after the commit.
    for (const target of nodes) {
      await vi.waitFor(
        async () => {
          const response = await target.request('/api/v1/me', { token: gone.accessToken });
          expect(response.status).toBe(401);
        },
        { timeout: 2000, interval: 10 },
      );
    }
    console.log(
      `[security] deleted-user-token-${backend}: refused on ${nodes.length} node(s) ${Math.round(performance.now() - deletedAt)} ms after the delete`,
    );

    for (const target of nodes) {
      for (const pathname of ['/me', '/workspaces', '/coach/profile', '/billing/packages']) {
        const response = await target.request(`/api/v1${pathname}`, { token: gone.accessToken });
        const expected = pathname === '/billing/packages' ? 200 : 401;
        tally.record(`GET ${pathname}`, response.status === expected ? null : `${response.status}`);
      }
      const created = await target.request('/api/v1/workspaces', {
        method: 'POST',
        token: gone.accessToken,
        json: { name: 'Ghost' },
      });
      tally.record('POST /workspaces', created.status === 401 ? null : `${created.status}`);

      const socket = connectSocket(target.url, gone.accessToken, { reconnection: false });
      const handshake = await new Promise<string>((resolve) => {
        socket.on('connect', () => resolve('connected'));
        socket.on('connect_error', (error) => resolve(`refused: ${error.message}`));
      });
      socket.disconnect();
      tally.record('Socket.IO handshake', handshake.startsWith('refused') ? null : handshake);
    }
    // Someone who still exists is not affected.
    const kept = await node.signup('Kept');
    const me = await node.request('/api/v1/me', { token: kept.accessToken });
    tally.record('an existing user reads /me', me.status === 200 ? null : `${me.status}`);
    tally.report();
    expect(tally.broken).toEqual([]);
  });
});
