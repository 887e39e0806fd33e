import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, eq } from 'drizzle-orm';
import { createClient } from 'redis';
import {
  type AccessCheck,
  type AuthenticatedUser,
  attachRealtime,
  type DocumentStore,
  type MemberRole,
  openRedisConnections,
  type ProjectAccess,
  type Realtime,
  type RealtimeOptions,
} from '../../../realtime/index.ts';
import { type Database, type Db, tables } from '../../../server/db/index.ts';
import { YjsDocumentStore } from '../../../server/realtime/index.ts';
import { TEST_REDIS_URL } from '../../support/services.ts';
import {
  connectSocket as connectSocketAt,
  connectYjs as connectYjsAt,
  type TestSocket,
  type YjsClient,
} from './clients.ts';

/**
 * The realtime AccessCheck for tests: tokens come from an in-test map (real auth is the
 * server's), memberships from the real workspace_members and projects tables.
 */
export class TableAccessCheck implements AccessCheck {
  readonly tokens = new Map<string, AuthenticatedUser>();

  constructor(private readonly db: Db) {}

  async authenticate(token: string): Promise<AuthenticatedUser | null> {
    return this.tokens.get(token) ?? null;
  }

  async projectAccess(userId: string, projectId: string): Promise<ProjectAccess | null> {
    if (!/^[0-9a-f-]{36}$/.test(projectId)) return null;
    const [row] = await this.db
      .select({ workspaceId: tables.projects.workspaceId, role: tables.workspaceMembers.role })
      .from(tables.projects)
      .innerJoin(
        tables.workspaceMembers,
        eq(tables.workspaceMembers.workspaceId, tables.projects.workspaceId),
      )
      .where(and(eq(tables.projects.id, projectId), eq(tables.workspaceMembers.userId, userId)));
    return row ?? null;
  }
}

export interface TestUser {
  userId: string;
  name: string;
  token: string;
}

/** A workspace with one project, and helpers to add members with tokens. */
export class ProjectFixture {
  readonly workspaceId = randomUUID();
  readonly projectId = randomUUID();

  constructor(
    private readonly db: Db,
    private readonly access: TableAccessCheck[],
  ) {}

  get scriptDoc(): string {
    return `project/${this.projectId}/script`;
  }

  get planDoc(): string {
    return `project/${this.projectId}/plan`;
  }

  async create(): Promise<this> {
    await this.db.insert(tables.workspaces).values({ id: this.workspaceId, name: 'Studio' });
    await this.db.insert(tables.projects).values({
      id: this.projectId,
      workspaceId: this.workspaceId,
      title: 'Launch video',
      topic: 'CRDTs',
    });
    return this;
  }

  /** A user with a token every node accepts; a member with `role` unless role is null. */
  async user(name: string, role: MemberRole | null): Promise<TestUser> {
    const userId = randomUUID();
    await this.db.insert(tables.users).values({
      id: userId,
      email: `${userId}@example.test`,
      name,
      passwordHash: 'not-used',
    });
    if (role) {
      await this.db
        .insert(tables.workspaceMembers)
        .values({ workspaceId: this.workspaceId, userId, role });
    }
    const token = `token-${randomUUID()}`;
    for (const check of this.access) check.tokens.set(token, { userId, name });
    return { userId, name, token };
  }

  async setRole(userId: string, role: MemberRole | null): Promise<void> {
    const where = and(
      eq(tables.workspaceMembers.workspaceId, this.workspaceId),
      eq(tables.workspaceMembers.userId, userId),
    );
    if (role) await this.db.update(tables.workspaceMembers).set({ role }).where(where);
    else await this.db.delete(tables.workspaceMembers).where(where);
  }
}

export interface RealtimeNode {
  url: string;
  wsUrl: string;
  realtime: Realtime;
  access: TableAccessCheck;
  http: Server;
  close(): Promise<void>;
}

/**
 * One API node as far as realtime is concerned: an HTTP server on 127.0.0.1, port 0, with the
 * realtime layer attached, its own database connection and the given Redis prefix.
 */
export async function startRealtimeNode(
  database: Database,
  options: {
    redisKeyPrefix?: string;
    realtime?: Partial<Omit<RealtimeOptions, 'documentStore' | 'access' | 'redis'>>;
    /** Wraps the real store, e.g. to hold a load back at a chosen moment. */
    wrapStore?: (store: DocumentStore) => DocumentStore;
  } = {},
): Promise<RealtimeNode> {
  const http = createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const access = new TableAccessCheck(database.db);
  // What a node process opens once and hands to realtime.
  const connections = options.redisKeyPrefix
    ? await openRedisConnections({ url: TEST_REDIS_URL, name: 'test node' })
    : undefined;
  const realtime = await attachRealtime(http, {
    ...options.realtime,
    documentStore: (options.wrapStore ?? ((store) => store))(new YjsDocumentStore(database.db)),
    access,
    ...(options.redisKeyPrefix
      ? { redis: { connections: connections!, keyPrefix: options.redisKeyPrefix } }
      : {}),
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    realtime,
    access,
    http,
    close() {
      closing ??= (async () => {
        await realtime.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        await connections?.close();
      })();
      return closing;
    },
  };
}

/** Deletes every Redis key of a test prefix. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = createClient({ url: TEST_REDIS_URL });
  await redis.connect();
  try {
    const keys: string[] = [];
    for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      keys.push(...batch);
    }
    if (keys.length > 0) await redis.del(keys);
  } finally {
    await redis.close();
  }
}

export type { TestSocket, YjsClient } from './clients.ts';

/** A stock y-websocket client on this node, as a browser would use it. */
export function connectYjs(node: RealtimeNode, docName: string, token: string | null): YjsClient {
  return connectYjsAt(node.wsUrl, docName, token);
}

/** A stock socket.io client on this node, on the websocket transport. */
export function connectSocket(
  node: RealtimeNode,
  token: string,
  options: Parameters<typeof connectSocketAt>[2] = {},
): TestSocket {
  return connectSocketAt(node.url, token, options);
}

/** A small seeded PRNG (mulberry32), so random edit sequences are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
