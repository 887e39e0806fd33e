import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, tables } from '../../server/db/index.ts';
import type { AppEnv } from '../../server/http/app-env.ts';
import { handleError } from '../../server/http/error-handler.ts';
import { createLogger } from '../../server/logger.ts';
import { openTestPglite, openTestPostgres } from '../support/databases.ts';

/** The error a real database gives for a row whose parent was deleted meanwhile. */
async function foreignKeyError(database: Database): Promise<unknown> {
  return database.db
    .insert(tables.projects)
    .values({ id: randomUUID(), workspaceId: randomUUID(), title: 'Orphan', topic: '' })
    .then(
      () => new Error('the insert should have failed'),
      (error: unknown) => error,
    );
}

function answering(error: unknown) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set('logger', createLogger('silent'));
    await next();
  });
  app.get('/', () => {
    throw error;
  });
  app.onError(handleError);
  return app.request('/');
}

describe.each([
  ['PGlite', openTestPglite],
  ['Postgres', openTestPostgres],
])('error handler on %s', (_name, open) => {
  let database: Database;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('answers a write under a row deleted meanwhile with 409, not 500', async () => {
    const response = await answering(await foreignKeyError(database));
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'conflict' } });
  });

  it('still answers other database errors with 500', async () => {
    const error = await database.db.execute('select * from no_such_table').catch((e) => e);
    const response = await answering(error);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      error: { code: 'internal_error', message: 'Internal server error' },
    });
  });
});
