// A restart looks like a restart to Socket.IO clients: a closing node closes their transports
// (not a server-side disconnect, which stock clients take as final), they retry by themselves,
// and once a node is back on the address the SDK joins its rooms again.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectRooms, joinProject, type RoomSocket } from '../../client-sdk/rooms.ts';
import { openDatabase } from '../../server/db/index.ts';
import type { RenderProgressEvent } from '../../shared/socket-events.ts';
import { openTestPostgres } from '../support/databases.ts';
import { freePort } from '../support/processes.ts';
import { startTestNode } from '../support/test-node.ts';

const WAIT = { timeout: 20_000, interval: 50 };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a node restart', () => {
  it('lets SDK sockets reconnect by themselves and join their rooms again', async () => {
    const database = await openTestPostgres();
    cleanups.push(() => database.close());
    // Both lives of the node share the address, the database and the token secret.
    const config = { port: await freePort(), jwtSecret: randomBytes(32).toString('base64url') };
    const first = await startTestNode({
      database: await openDatabase({ url: database.url, maxConnections: 5 }),
      config,
    });
    let firstClosed = false;
    cleanups.push(async () => {
      if (!firstClosed) await first.close();
    });

    const owner = await first.signup('Owner');
    const call = async (path: string, json: unknown) => {
      const response = await first.request(`/api/v1${path}`, {
        method: 'POST',
        token: owner.accessToken,
        json,
      });
      expect(response.status).toBe(201);
      return response.json();
    };
    const { workspace } = await call('/workspaces', { name: 'Studio' });
    const { project } = await call('/projects', {
      workspaceId: workspace.id,
      title: 'Launch video',
      topic: 'CRDTs',
    });
    const projectId = project.id as string;

    const socket: RoomSocket = connectRooms({ baseUrl: first.url, token: owner.accessToken });
    cleanups.push(() => void socket.disconnect());
    const disconnects: string[] = [];
    let reconnectAttempts = 0;
    socket.on('disconnect', (reason) => disconnects.push(reason));
    socket.io.on('reconnect_attempt', () => {
      reconnectAttempts += 1;
    });
    const progress: RenderProgressEvent[] = [];
    socket.on('render:progress', (event) => progress.push(event));
    await joinProject(socket, projectId);

    const closing = performance.now();
    await first.close();
    firstClosed = true;
    console.log(`the node closed in ${Math.round(performance.now() - closing)} ms`);
    await vi.waitFor(() => {
      expect(disconnects).toHaveLength(1);
      expect(reconnectAttempts).toBeGreaterThan(0);
    }, WAIT);
    expect(disconnects[0]).not.toBe('io server disconnect');
    expect(socket.active).toBe(true);

    const second = await startTestNode({ database, config });
    cleanups.push(() => {
      socket.disconnect();
      return second.close();
    });
    expect(second.url).toBe(first.url);
    await vi.waitFor(() => expect(socket.connected).toBe(true), WAIT);
    // Nothing joined the room on the new node but the SDK's own rejoin.
    let sent = 0;
    await vi.waitFor(async () => {
      sent += 1;
      await second.services.realtime.emitter.emit(projectId, 'render:progress', {
        renderId: `after-restart-${sent}`,
        status: 'running',
        progress: 0.5,
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(progress.some((event) => event.renderId.startsWith('after-restart-'))).toBe(true);
    }, WAIT);
  });
});
