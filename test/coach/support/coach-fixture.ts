import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { io as ioClient, type Socket } from 'socket.io-client';
import { expect, vi } from 'vitest';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import type { CoachConfig } from '../../../server/config.ts';
import type { Database } from '../../../server/db/index.ts';
import { type RunningNode, type RuntimeConfig, startNode } from '../../../server/runtime.ts';
import type { Session } from '../../../shared/accounts.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../../shared/socket-events.ts';
import { openTestPglite, openTestPostgres } from '../../support/databases.ts';
import { TEST_REDIS_URL } from '../../support/services.ts';
import { requestTo } from '../../support/test-node.ts';

export const WAIT = { timeout: 20_000, interval: 20 };

export type RoomSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Every room event a socket received, in arrival order. */
export interface RecordingSocket {
  socket: RoomSocket;
  events: Array<{ event: string; payload: Record<string, unknown> }>;
  of(event: string): Array<Record<string, unknown>>;
  /** Deltas of one reply, in arrival order. */
  tokens(messageId: string): string[];
  close(): void;
}

export interface CoachNode extends RunningNode {
  database: Database;
  /** JSON log lines the node wrote (level warn and above). */
  logs: Array<Record<string, unknown>>;
  request(
    pathname: string,
    init?: RequestInit & { token?: string; json?: unknown },
  ): Promise<Response>;
  signup(name?: string): Promise<Session>;
  /** A project in the user's first workspace. */
  project(session: Session): Promise<{ projectId: string; workspaceId: string }>;
  addMember(owner: Session, workspaceId: string, member: Session, role: string): Promise<void>;
  connect(session: Session, projectId: string): Promise<RecordingSocket>;
  connectPlan(session: Session, projectId: string): Promise<PlanClient>;
}

export interface PlanClient {
  doc: Y.Doc;
  provider: WebsocketProvider;
  destroy(): void;
}

/**
 * A real API node (port 0; PGlite, or a throwaway Postgres database) with the coach configured
 * as given and its logs kept.
 */
export async function startCoachNode(
  coach: Partial<CoachConfig>,
  options: {
    /** A database object is shared (several nodes) and left open on close. */
    database?: 'pglite' | 'postgres' | Database;
    /** Join the test Redis under this key prefix (nodes sharing it form one cluster). */
    redisKeyPrefix?: string;
    /** The JWT secret; default random (or the cluster's, with `redisKeyPrefix`). A node restarted on the same database keeps its sessions with it. */
    jwtSecret?: string;
    /** The reply workers' and the reply queue's tuning (short leases for takeovers). */
    replies?: RuntimeConfig['coachReplies'];
  } = {},
): Promise<CoachNode> {
  const shared = typeof options.database === 'object';
  const database =
    typeof options.database === 'object'
      ? options.database
      : options.database === 'postgres'
        ? await openTestPostgres()
        : await openTestPglite();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const node = await startNode(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: path.join(tmpdir(), `reelroom-${randomUUID()}`),
      databaseUrl: undefined,
      redisUrl: options.redisKeyPrefix ? TEST_REDIS_URL : undefined,
      // Nodes of one cluster must accept each other's tokens.
      jwtSecret:
        options.jwtSecret ??
        (options.redisKeyPrefix
          ? clusterSecret(options.redisKeyPrefix)
          : randomBytes(32).toString('base64url')),
      trustProxy: false,
      shutdownGraceMs: 2000,
      redisKeyPrefix: options.redisKeyPrefix ?? `test-${randomUUID()}`,
      renderWorkers: false,
      coach,
      coachReplies: options.replies,
    },
    pino({ level: 'warn' }, sink),
    { database },
  );
  const sockets: RecordingSocket[] = [];
  const planClients: PlanClient[] = [];

  const request: CoachNode['request'] = requestTo(node.url);

  // biome-ignore lint/suspicious/noExplicitAny: loosely typed JSON of the fixture's own calls
  const ok = async (response: Response, status = 200): Promise<Record<string, any>> => {
    const body = await response.json();
    if (response.status !== status) throw new Error(`${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  return {
    ...node,
    database,
    logs,
    request,
    async signup(name = 'Test User') {
      const response = await request('/api/v1/auth/signup', {
        method: 'POST',
        json: { email: `${randomUUID()}@example.test`, password: 'correct horse battery', name },
      });
      return (await ok(response, 201)) as Session;
    },
    async project(session) {
      const { workspaces } = await ok(
        await request('/api/v1/workspaces', { token: session.accessToken }),
      );
      const workspaceId = workspaces[0].id as string;
      const { project } = await ok(
        await request('/api/v1/projects', {
          method: 'POST',
          token: session.accessToken,
          json: { workspaceId, title: 'Community launch', topic: 'A paid community for editors' },
        }),
        201,
      );
      return { projectId: project.id as string, workspaceId };
    },
    async addMember(owner, workspaceId, member, role) {
      await ok(
        await request(`/api/v1/workspaces/${workspaceId}/members`, {
          method: 'POST',
          token: owner.accessToken,
          json: { email: member.user.email, role },
        }),
        201,
      );
    },
    async connect(session, projectId) {
      const recording = await connectRoom(node.url, session, projectId);
      sockets.push(recording);
      return recording;
    },
    async connectPlan(session, projectId) {
      const doc = new Y.Doc();
      const provider = new WebsocketProvider(
        `${node.url.replace('http', 'ws')}/yjs`,
        `project/${projectId}/plan`,
        doc,
        {
          params: { token: session.accessToken },
          WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
          disableBc: true,
        },
      );
      await vi.waitFor(() => expect(provider.synced).toBe(true), WAIT);
      const client = {
        doc,
        provider,
        destroy() {
          provider.destroy();
          doc.destroy();
        },
      };
      planClients.push(client);
      return client;
    },
    async close() {
      for (const socket of sockets) socket.close();
      for (const client of planClients) client.destroy();
      await node.close();
      if (!shared) await database.close();
    },
  };
}

/** A Socket.IO client of the node at `url` that joined the project's room and records what it gets. */
export async function connectRoom(
  url: string,
  session: Session,
  projectId: string,
): Promise<RecordingSocket> {
  const socket: RoomSocket = ioClient(url, {
    auth: { token: session.accessToken },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  const events: RecordingSocket['events'] = [];
  socket.onAny((event: string, payload: Record<string, unknown>) => {
    events.push({ event, payload });
  });
  const joined = await socket.timeout(10_000).emitWithAck('project:join', { projectId });
  expect(joined).toEqual({ ok: true });
  return {
    socket,
    events,
    of: (event) => events.filter((e) => e.event === event).map((e) => e.payload),
    tokens: (messageId) =>
      events
        .filter((e) => e.event === 'chat:token' && e.payload.messageId === messageId)
        .map((e) => e.payload.delta as string),
    close: () => socket.disconnect(),
  };
}

/** The JWT secret of the nodes of one cluster (they accept each other's tokens). */
export function clusterSecret(redisKeyPrefix: string): string {
  return `secret-${redisKeyPrefix}`.padEnd(40, 'x');
}

/** Sends over Socket.IO and returns the ack. */
export function chatSend(client: RecordingSocket, projectId: string, content: string) {
  return client.socket.timeout(10_000).emitWithAck('chat:send', { projectId, content });
}

/** Waits until `chat:done` or `chat:error` arrived for a reply; returns which. */
export async function replyEnd(client: RecordingSocket, messageId?: string) {
  let end: { event: string; payload: Record<string, unknown> } | undefined;
  await vi.waitFor(() => {
    end = client.events.find(
      (e) =>
        (e.event === 'chat:done' || e.event === 'chat:error') &&
        (messageId === undefined || e.payload.messageId === messageId),
    );
    expect(end).toBeDefined();
  }, WAIT);
  return end!;
}
