import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

describe.each(['pglite', 'postgres'] as const)('workspaces and projects on %s', (backend) => {
  let node: TestNode;
  let owner: Session;
  let editor: Session;
  let viewer: Session;
  let stranger: Session;
  let workspaceId: string;

  const call = (session: Session, path: string, init: { method?: string; json?: unknown } = {}) =>
    node.request(`/api/v1${path}`, { ...init, token: session.accessToken });

  beforeAll(async () => {
    node = await startTestNode({ database: backend });
    [owner, editor, viewer, stranger] = await Promise.all([
      node.signup('Owner'),
      node.signup('Editor'),
      node.signup('Viewer'),
      node.signup('Stranger'),
    ]);
    const created = await call(owner, '/workspaces', { method: 'POST', json: { name: 'Studio' } });
    expect(created.status).toBe(201);
    workspaceId = (await created.json()).workspace.id;
    for (const [member, role] of [
      [editor, 'editor'],
      [viewer, 'viewer'],
    ] as const) {
      const added = await call(owner, `/workspaces/${workspaceId}/members`, {
        method: 'POST',
        json: { email: member.user.email.toUpperCase(), role },
      });
      expect(added.status).toBe(201);
    }
  });
  afterAll(() => node?.close());

  it('lists members with roles, to members only', async () => {
    const members = await (await call(viewer, `/workspaces/${workspaceId}/members`)).json();
    expect(
      members.members.map((m: { name: string; role: string }) => [m.name, m.role]).sort(),
    ).toEqual([
      ['Editor', 'editor'],
      ['Owner', 'owner'],
      ['Viewer', 'viewer'],
    ]);
    expect((await call(stranger, `/workspaces/${workspaceId}/members`)).status).toBe(404);
    expect((await call(stranger, `/workspaces/${workspaceId}`)).status).toBe(404);
    const listed = await (await call(editor, '/workspaces')).json();
    expect(
      listed.workspaces.map((w: { name: string; role: string }) => [w.name, w.role]),
    ).toContainEqual(['Studio', 'editor']);
  });

  it('only owners manage members; duplicates and the last owner are refused, unknown emails invited', async () => {
    const target = `/workspaces/${workspaceId}/members`;
    expect(
      (
        await call(editor, target, {
          method: 'POST',
          json: { email: stranger.user.email, role: 'viewer' },
        })
      ).status,
    ).toBe(403);
    const duplicate = await call(owner, target, {
      method: 'POST',
      json: { email: viewer.user.email, role: 'editor' },
    });
    expect(duplicate.status).toBe(409);
    expect((await duplicate.json()).error.code).toBe('already_member');
    const unknown = await call(owner, target, {
      method: 'POST',
      json: { email: 'nobody@example.test', role: 'viewer' },
    });
    expect(unknown.status).toBe(202);
    expect((await unknown.json()).invitation).toMatchObject({
      email: 'nobody@example.test',
      role: 'viewer',
    });
    const badRole = await call(owner, target, {
      method: 'POST',
      json: { email: stranger.user.email, role: 'admin' },
    });
    expect(badRole.status).toBe(400);
    expect((await badRole.json()).error.message).toMatch(/role/);

    const demoteLastOwner = await call(owner, `${target}/${owner.user.id}`, {
      method: 'PATCH',
      json: { role: 'editor' },
    });
    expect(demoteLastOwner.status).toBe(409);
    expect((await demoteLastOwner.json()).error.code).toBe('last_owner');
    expect((await call(owner, `${target}/${owner.user.id}`, { method: 'DELETE' })).status).toBe(
      409,
    );
    expect(
      (
        await call(viewer, `${target}/${editor.user.id}`, {
          method: 'PATCH',
          json: { role: 'viewer' },
        })
      ).status,
    ).toBe(403);
    expect((await call(viewer, `${target}/${editor.user.id}`, { method: 'DELETE' })).status).toBe(
      403,
    );
  });

  it('changes a role, removes a member and lets a member leave', async () => {
    const spare = await node.signup('Spare');
    const base = `/workspaces/${workspaceId}/members`;
    await call(owner, base, { method: 'POST', json: { email: spare.user.email, role: 'viewer' } });
    const promoted = await call(owner, `${base}/${spare.user.id}`, {
      method: 'PATCH',
      json: { role: 'editor' },
    });
    expect(promoted.status).toBe(200);
    expect((await promoted.json()).member.role).toBe('editor');
    expect((await call(spare, `${base}/${spare.user.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(spare, `/workspaces/${workspaceId}`)).status).toBe(404);
    expect((await call(owner, `${base}/${spare.user.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('creates, reads, renames and deletes projects by role; other workspaces see 404', async () => {
    const created = await call(editor, '/projects', {
      method: 'POST',
      json: { workspaceId, title: 'Launch video', topic: 'How we ship' },
    });
    expect(created.status).toBe(201);
    const { project } = await created.json();
    expect(project).toMatchObject({
      workspaceId,
      title: 'Launch video',
      topic: 'How we ship',
      createdBy: editor.user.id,
    });

    expect((await call(viewer, `/projects/${project.id}`)).status).toBe(200);
    expect((await call(stranger, `/projects/${project.id}`)).status).toBe(404);
    expect(
      (await call(stranger, `/projects/${project.id}`, { method: 'PATCH', json: { title: 'x' } }))
        .status,
    ).toBe(404);
    expect(
      (
        await call(viewer, '/projects', {
          method: 'POST',
          json: { workspaceId, title: 'x', topic: 'y' },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await call(stranger, '/projects', {
          method: 'POST',
          json: { workspaceId, title: 'x', topic: 'y' },
        })
      ).status,
    ).toBe(404);
    expect(
      (await call(viewer, `/projects/${project.id}`, { method: 'PATCH', json: { title: 'x' } }))
        .status,
    ).toBe(403);

    const renamed = await call(editor, `/projects/${project.id}`, {
      method: 'PATCH',
      json: { title: 'Launch video v2' },
    });
    expect(renamed.status).toBe(200);
    expect((await renamed.json()).project).toMatchObject({
      title: 'Launch video v2',
      topic: 'How we ship',
    });
    expect(
      (await call(editor, `/projects/${project.id}`, { method: 'PATCH', json: {} })).status,
    ).toBe(400);

    expect((await call(viewer, `/projects/${project.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await call(editor, `/projects/${project.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await call(owner, `/projects/${project.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(owner, `/projects/${project.id}`)).status).toBe(404);
  });

  it('pages through a workspace’s projects newest first with a cursor', async () => {
    const own = (
      await (await call(owner, '/workspaces', { method: 'POST', json: { name: 'Paging' } })).json()
    ).workspace.id;
    const titles: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      titles.push(`P${i}`);
      await call(owner, '/projects', {
        method: 'POST',
        json: { workspaceId: own, title: `P${i}`, topic: 't' },
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await call(owner, `/workspaces/${own}/projects${query}`);
      expect(response.status).toBe(200);
      const body: { projects: { title: string }[]; nextCursor: string | null } =
        await response.json();
      expect(body.projects.length).toBeLessThanOrEqual(3);
      seen.push(...body.projects.map((p) => p.title));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...titles].reverse());
    expect((await call(owner, `/workspaces/${own}/projects?cursor=bogus`)).status).toBe(400);
    expect((await call(owner, `/workspaces/${own}/projects?limit=1000`)).status).toBe(400);
    expect((await call(stranger, `/workspaces/${own}/projects`)).status).toBe(404);
  });
});
