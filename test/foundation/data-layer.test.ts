import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/index.ts';
import { openDatabase, tables } from '../../server/db/index.ts';
import { WorkspaceService } from '../../server/workspaces/workspace-service.ts';
import { databaseBackends, openTestPostgres } from '../support/databases.ts';
import { startTestNode } from '../support/test-node.ts';

describe.each(databaseBackends)('data layer on $name', ({ name, open }) => {
  let database: Database;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(() => database?.close());

  it('runs the migrations again without change (start-up migrates every time)', async () => {
    await database.migrate();
    await database.migrate();
    expect(database.kind).toBe(name === 'postgres' ? 'postgres' : 'pglite');
    expect(await database.db.$count(tables.users)).toBe(0);
  });

  it('keeps one owner when two owners demote each other at the same time', async () => {
    const node = await startTestNode({ database });
    const [a, b] = await Promise.all([node.signup('A'), node.signup('B')]);
    const workspaceId = (
      await (await node.request('/api/v1/workspaces', { token: a.accessToken })).json()
    ).workspaces[0].id;
    await node.request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token: a.accessToken,
      json: { email: b.user.email, role: 'owner' },
    });
    const results = await Promise.all([
      node.request(`/api/v1/workspaces/${workspaceId}/members/${b.user.id}`, {
        method: 'PATCH',
        token: a.accessToken,
        json: { role: 'viewer' },
      }),
      node.request(`/api/v1/workspaces/${workspaceId}/members/${a.user.id}`, {
        method: 'PATCH',
        token: b.accessToken,
        json: { role: 'viewer' },
      }),
    ]);
    const statuses = results.map((r) => r.status).sort();
    // One demotion wins; the other is refused (last owner, or no longer an owner).
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    const service = new WorkspaceService(database.db);
    const roles = [
      await service.roleOf(a.user.id, workspaceId),
      await service.roleOf(b.user.id, workspaceId),
    ];
    expect(roles.filter((role) => role === 'owner')).toHaveLength(1);
    // The node closes the database it was handed; the suite's afterAll close is then a no-op.
    await node.close();
  });
});

describe('migrations on Postgres', () => {
  it('lets several processes start on an empty database at once: one migrates, all succeed', async () => {
    const empty = await openTestPostgres({ migrate: false });
    const nodes = await Promise.all(
      Array.from({ length: 4 }, () => openDatabase({ url: empty.url, maxConnections: 2 })),
    );
    try {
      await Promise.all(nodes.map((node) => node.migrate()));
      const applied = await empty.db.execute<{ count: number }>(
        sql`select count(*)::int as count from drizzle.__drizzle_migrations`,
      );
      const journal = await import('../../server/db/migrations/meta/_journal.json', {
        with: { type: 'json' },
      });
      const rows = Array.isArray(applied) ? applied : (applied as { rows: unknown[] }).rows;
      expect(rows[0]).toEqual({ count: journal.default.entries.length });
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
      await empty.close();
    }
  });
});
