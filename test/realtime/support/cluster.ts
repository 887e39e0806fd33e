import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as Y from 'yjs';
import type { Database } from '../../../server/db/index.ts';
import { YjsDocumentStore } from '../../../server/realtime/index.ts';
import type { Session } from '../../../shared/accounts.ts';
import type { Role } from '../../../shared/workspaces.ts';
import { openTestPostgres } from '../../support/databases.ts';
import { type NodeProcess, spawnEntry } from '../../support/processes.ts';
import { TEST_REDIS_URL } from '../../support/services.ts';
import { dropRedisPrefix } from './realtime-fixture.ts';

/**
 * One API node process (`server/api-main.ts`), reached through a TCP relay of its own: the
 * process listens on port 0 and logs the port it got, the relay's port stays the node's address
 * across restarts, so clients reconnect to a restarted node as to a real one. No port is picked
 * before a process binds it, where another process could take it first.
 */
export class ApiNode {
  process: NodeProcess | null = null;
  readonly #relay = new FailoverProxy([this]);

  constructor(private readonly env: Record<string, string>) {}

  /** The node's address: the relay's port. */
  get port(): number {
    return this.#relay.port;
  }

  /** The port the running process listens on, or null while it is stopped. */
  get processPort(): number | null {
    return this.process ? Number(new URL(this.process.url).port) : null;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.#relay.port === 0) await this.#relay.listen();
    this.process = await spawnEntry(
      'server/api-main.ts',
      { ...this.env, PORT: '0' },
      { timeoutMs: 45_000 },
    );
  }

  /** SIGTERM (graceful: stores, compacts, closes) or SIGKILL (a crash); resolves on exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const running = this.process;
    this.process = null;
    return running ? running.stop(signal) : null;
  }

  /** Kills the process and closes the relay. */
  async close(): Promise<void> {
    await this.stop('SIGKILL');
    await this.#relay.close();
  }
}

/**
 * Several API node processes sharing one throwaway Postgres database and one Redis key prefix,
 * as a real deployment runs them, plus a REST client for setting up users and projects.
 */
export class ApiCluster {
  readonly nodes: ApiNode[] = [];
  readonly redisKeyPrefix = `test-${randomUUID()}`;
  database!: Database & { url: string };
  store!: YjsDocumentStore;

  static async start(count: number): Promise<ApiCluster> {
    const cluster = new ApiCluster();
    cluster.database = await openTestPostgres();
    cluster.store = new YjsDocumentStore(cluster.database.db);
    const env = {
      DATABASE_URL: cluster.database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: cluster.redisKeyPrefix,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      HOST: '127.0.0.1',
      DATA_DIR: path.join(tmpdir(), `reelroom-${randomUUID()}`),
      // The line a node logs once listening, with the URL and port it got, is an `info` line.
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      SHUTDOWN_GRACE_SECONDS: '2',
    };
    for (let i = 0; i < count; i += 1) cluster.nodes.push(new ApiNode(env));
    await Promise.all(cluster.nodes.map((node) => node.start()));
    return cluster;
  }

  get rest(): Rest {
    return new Rest(this.nodes[0]!.url);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.nodes.map((node) => node.close()));
    await this.database?.close();
    await dropRedisPrefix(this.redisKeyPrefix);
  }
}

/** The REST calls the realtime tests need, against any node. */
export class Rest {
  constructor(readonly baseUrl: string) {}

  async call(
    token: string | null,
    method: string,
    pathname: string,
    body?: unknown,
  ): Promise<Response> {
    return fetch(`${this.baseUrl}/api/v1${pathname}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async expectJson<T>(response: Response, status: number): Promise<T> {
    if (response.status !== status) {
      throw new Error(`expected ${status}, got ${response.status}: ${await response.text()}`);
    }
    return (await response.json()) as T;
  }

  async signup(name: string): Promise<Session> {
    return this.expectJson<Session>(
      await this.call(null, 'POST', '/auth/signup', {
        email: `${randomUUID()}@example.test`,
        password: 'correct horse battery',
        name,
      }),
      201,
    );
  }

  /** A workspace owned by `owner` with one project; returns both ids. */
  async project(owner: Session): Promise<{ workspaceId: string; projectId: string }> {
    const { workspace } = await this.expectJson<{ workspace: { id: string } }>(
      await this.call(owner.accessToken, 'POST', '/workspaces', { name: 'Studio' }),
      201,
    );
    const { project } = await this.expectJson<{ project: { id: string } }>(
      await this.call(owner.accessToken, 'POST', '/projects', {
        workspaceId: workspace.id,
        title: 'Launch video',
        topic: 'CRDTs',
      }),
      201,
    );
    return { workspaceId: workspace.id, projectId: project.id };
  }

  async addMember(owner: Session, workspaceId: string, member: Session, role: Role) {
    await this.expectJson(
      await this.call(owner.accessToken, 'POST', `/workspaces/${workspaceId}/members`, {
        email: member.user.email,
        role,
      }),
      201,
    );
  }

  async setRole(owner: Session, workspaceId: string, member: Session, role: Role) {
    await this.expectJson(
      await this.call(
        owner.accessToken,
        'PATCH',
        `/workspaces/${workspaceId}/members/${member.user.id}`,
        { role },
      ),
      200,
    );
  }

  async removeMember(owner: Session, workspaceId: string, member: Session) {
    const response = await this.call(
      owner.accessToken,
      'DELETE',
      `/workspaces/${workspaceId}/members/${member.user.id}`,
    );
    if (response.status !== 204) {
      throw new Error(`remove member: ${response.status} ${await response.text()}`);
    }
  }
}

export { connectSocket, connectYjs, type TestSocket, type YjsClient } from './clients.ts';

/** The state vector of a doc as sorted pairs, for equality checks. */
export function stateVector(doc: Y.Doc): Array<[number, number]> {
  return [...Y.decodeStateVector(Y.encodeStateVector(doc)).entries()].sort((a, b) => a[0] - b[0]);
}

/** A document rebuilt from the database alone. */
export async function docFromStore(store: YjsDocumentStore, docName: string): Promise<Y.Doc> {
  const stored = await store.load(docName);
  const doc = new Y.Doc();
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot);
  for (const row of stored.updates) Y.applyUpdate(doc, row.update);
  return doc;
}

/**
 * A TCP load balancer in front of several nodes: each new connection goes to the first running
 * node that accepts it. When a node dies its connections drop, the clients reconnect and land on
 * the next node, as behind a real balancer with health checks. With no node running, a
 * connection is accepted and closed at once, which clients take as a refused one.
 */
export class FailoverProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targets: ReadonlyArray<Pick<ApiNode, 'processPort'>>) {
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.pause();
      // A client that resets its connection; its upstream is ended on 'close'.
      client.on('error', () => client.destroy());
      client.on('close', () => this.#sockets.delete(client));
      this.#route(client, 0);
    });
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  #route(client: Socket, from: number): void {
    // A stopped node is skipped, not dialled: its old port may belong to another process now.
    const index = this.targets.findIndex((node, i) => i >= from && node.processPort !== null);
    const port = this.targets[index]?.processPort;
    if (port == null) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(port, '127.0.0.1');
    let connected = false;
    upstream.on('error', () => {
      if (!connected && !client.destroyed) this.#route(client, index + 1);
      else client.destroy();
    });
    upstream.once('connect', () => {
      connected = true;
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.#sockets.add(upstream);
      // Ends, not destroys, on the other side's close: what is still buffered gets through
      // (a WebSocket close frame with its code, say).
      client.on('close', () => upstream.end());
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        client.end();
      });
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
