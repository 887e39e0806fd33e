import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { defaultAccount, FakeGoogle } from './support/fake-google.ts';

const CLIENT = { clientId: 'pg.apps.googleusercontent.com', clientSecret: 'pg-secret' };

describe('YouTube channels on Postgres', () => {
  let google: FakeGoogle;
  let node: TestNode;
  const publicUrl = 'http://app.reelroom.test';

  beforeAll(async () => {
    google = await new FakeGoogle([CLIENT]).start();
    node = await startTestNode({
      database: 'postgres',
      config: { publicUrl, google: { clients: [CLIENT], apiBase: google.url } },
    });
  });

  afterAll(async () => {
    await node?.close();
    await google?.close();
  });

  it('connects a channel and a dump of every text column holds no refresh token', async () => {
    const { accessToken: token } = await node.signup('Ada');
    const workspaces = (await (await node.request('/api/v1/workspaces', { token })).json()) as {
      workspaces: Array<{ id: string }>;
    };
    const workspaceId = workspaces.workspaces[0]!.id;
    google.account = defaultAccount();
    const connect = await node.request('/api/v1/youtube/connect', {
      method: 'POST',
      token,
      json: { workspaceId },
    });
    const { url } = (await connect.json()) as { url: string };
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    const landed = await node.request(`${back.pathname}${back.search}`, { redirect: 'manual' });
    expect(landed.status).toBe(302);

    const db = node.database.db;
    const columns = (await db.execute(sql`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type in ('text', 'jsonb', 'character varying', 'json')
    `)) as unknown as Array<{ table_name: string; column_name: string }>;
    expect(columns.length).toBeGreaterThan(10);
    let dump = '';
    for (const { table_name, column_name } of columns) {
      const rows = (await db.execute(
        sql.raw(`select "${column_name}"::text as v from "${table_name}"`),
      )) as unknown as Array<{ v: string | null }>;
      for (const row of rows) dump += `${row.v ?? ''}\n`;
    }
    expect(dump).toContain(google.account.channel!.id);
    expect(google.refreshTokens).toHaveLength(1);
    for (const refreshToken of google.refreshTokens) expect(dump).not.toContain(refreshToken);
  });
});
