// What a node does when its Redis comes back after an outage: the bus lost whatever was
// published meanwhile, so documents are re-read from the store and the access of every open
// Yjs and Socket.IO connection is checked again. Nodes run in this process on a Redis of the
// test's own, which the test kills and restarts.
import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, tables } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { CloseCodes } from '../../shared/close-codes.ts';
import { openTestPostgres } from '../support/databases.ts';
import { startTestNode, type TestNode, type TestNodeOptions } from '../support/test-node.ts';
import { ThrowawayRedis } from '../support/throwaway-redis.ts';
import { connectSocket, connectYjs, type TestSocket, type YjsClient } from './support/clients.ts';

const WAIT = { timeout: 15_000, interval: 25 };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function throwawayRedis(): Promise<ThrowawayRedis> {
  const redis = await ThrowawayRedis.start();
  cleanups.push(() => redis.stop());
  return redis;
}

async function node(redis: ThrowawayRedis, options: TestNodeOptions = {}): Promise<TestNode> {
  const started = await startTestNode({
    ...options,
    config: { ...options.config, redisUrl: redis.url },
  });
  cleanups.push(async () => {
    // A node closes its Redis connections gracefully once Redis is back.
    await redis.start().catch(() => undefined);
    await started.close();
  });
  return started;
}

function yjs(target: TestNode, docName: string, token: string): YjsClient {
  const client = connectYjs(target.url.replace('http', 'ws'), docName, token);
  cleanups.push(() => client.destroy());
  return client;
}

function socket(target: TestNode, token: string): TestSocket {
  const opened = connectSocket(target.url, token);
  cleanups.push(() => void opened.disconnect());
  return opened;
}

/** A workspace with one project, its owner and an editor, through the REST API of `on`. */
async function projectWithEditor(on: TestNode) {
  const call = async (session: Session, path: string, json: unknown, status = 201) => {
    const response = await on.request(`/api/v1${path}`, {
      method: 'POST',
      token: session.accessToken,
      json,
    });
    expect(response.status).toBe(status);
    return response.json();
  };
  const [owner, editor] = await Promise.all([on.signup('Owner'), on.signup('Editor')]);
  const { workspace } = await call(owner, '/workspaces', { name: 'Studio' });
  const { project } = await call(owner, '/projects', {
    workspaceId: workspace.id as string,
    title: 'Launch video',
    topic: 'CRDTs',
  });
  await call(owner, `/workspaces/${workspace.id}/members`, {
    email: editor.user.email,
    role: 'editor',
  });
  return {
    owner,
    editor,
    workspaceId: workspace.id as string,
    projectId: project.id as string,
    scriptDoc: `project/${project.id}/script`,
  };
}

/** An editor's Yjs client and Socket.IO socket in the project, both connected and joined. */
async function editorConnections(
  target: TestNode,
  token: string,
  docName: string,
  projectId: string,
) {
  const client = yjs(target, docName, token);
  const rooms = socket(target, token);
  const disconnects: string[] = [];
  rooms.on('disconnect', (reason) => disconnects.push(reason));
  await vi.waitFor(() => expect(client.provider.synced).toBe(true), WAIT);
  expect(await rooms.timeout(5000).emitWithAck('project:join', { projectId })).toEqual({
    ok: true,
  });
  return { client, rooms, disconnects };
}

describe('after a Redis outage', () => {
  it('closes the connections of a member removed while Redis was down', async () => {
    const redis = await throwawayRedis();
    const single = await node(redis);
    const { editor, workspaceId, projectId, scriptDoc } = await projectWithEditor(single);
    const { client, disconnects } = await editorConnections(
      single,
      editor.accessToken,
      scriptDoc,
      projectId,
    );

    await redis.stop();
    // Removed behind every node's back: no notice is sent at all, as if it had been lost.
    await single.database.db
      .delete(tables.workspaceMembers)
      .where(
        and(
          eq(tables.workspaceMembers.workspaceId, workspaceId),
          eq(tables.workspaceMembers.userId, editor.user.id),
        ),
      );
    // Nothing can tell the node while Redis is down.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.closeCodes).toEqual([]);
    expect(disconnects).toEqual([]);

    await redis.start();
    await vi.waitFor(() => {
      expect(client.closeCodes).toContain(CloseCodes.Forbidden);
      expect(disconnects).toEqual(['io server disconnect']);
    }, WAIT);
  });

  it('brings a node the edits and removals other nodes made during the outage', async () => {
    const redis = await throwawayRedis();
    const database = await openTestPostgres();
    const shared = {
      jwtSecret: randomBytes(32).toString('base64url'),
      redisKeyPrefix: `test-${randomUUID()}`,
    };
    // Node B has a connection of its own to A's database; B closes first, A drops the database.
    const a = await node(redis, { database, config: shared });
    const b = await node(redis, {
      database: await openDatabase({ url: database.url, maxConnections: 5 }),
      config: shared,
    });
    const { owner, editor, workspaceId, projectId, scriptDoc } = await projectWithEditor(a);
    const writer = yjs(a, scriptDoc, owner.accessToken);
    // The owner reads on B too; the editor, removed during the outage, is connected to B.
    const reader = yjs(b, scriptDoc, owner.accessToken);
    await vi.waitFor(() => {
      expect(writer.provider.synced).toBe(true);
      expect(reader.provider.synced).toBe(true);
    }, WAIT);
    const { client: removedClient, disconnects } = await editorConnections(
      b,
      editor.accessToken,
      scriptDoc,
      projectId,
    );
    writer.doc.getText('script').insert(0, 'Before. ');
    await vi.waitFor(() => expect(reader.text()).toBe('Before. '), WAIT);

    await redis.stop();
    writer.doc.getText('script').insert(8, 'During the outage.');
    // Stored on A (the store is the log), but B cannot hear of it.
    await vi.waitFor(
      async () =>
        expect(await a.services.realtime.getDocumentText(scriptDoc)).toBe(
          'Before. During the outage.',
        ),
      WAIT,
    );
    const removed = await a.request(`/api/v1/workspaces/${workspaceId}/members/${editor.user.id}`, {
      method: 'DELETE',
      token: owner.accessToken,
    });
    expect(removed.status).toBeLessThan(300);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reader.text()).toBe('Before. ');
    expect(removedClient.closeCodes).toEqual([]);
    expect(disconnects).toEqual([]);

    await redis.start();
    await vi.waitFor(() => {
      expect(reader.text()).toBe('Before. During the outage.');
      expect(removedClient.closeCodes).toContain(CloseCodes.Forbidden);
      expect(disconnects).toEqual(['io server disconnect']);
    }, WAIT);
    expect(reader.closeCodes).toEqual([]);
  });
});
