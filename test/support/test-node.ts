import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Database } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { type RunningNode, type RuntimeConfig, startNode } from '../../server/runtime.ts';
import type { Session } from '../../shared/accounts.ts';
import { openTestPglite, openTestPostgres } from './databases.ts';
import { TEST_REDIS_URL } from './services.ts';

export interface TestNodeOptions {
  /** Which database; default pglite (fast). */
  database?: 'pglite' | 'postgres' | Database;
  /** Connect to the test Redis with a key prefix of its own. Default false. */
  redis?: boolean;
  /** Overrides for the node's configuration. */
  config?: Partial<RuntimeConfig>;
}

export interface TestNode extends RunningNode {
  database: Database;
  /** `fetch` against the node: `node.fetch('/api/v1/me', {token})`. */
  request(
    pathname: string,
    init?: RequestInit & { token?: string; json?: unknown },
  ): Promise<Response>;
  /** Signs up a fresh user (unique email) and returns the session. */
  signup(name?: string): Promise<Session>;
  jwtSecret: string;
  redisKeyPrefix: string;
}

/** `fetch` against a node's base URL, with a Bearer `token` and a `json` body as shortcuts. */
export function requestTo(baseUrl: string): TestNode['request'] {
  return (pathname, init = {}) => {
    const { token, json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${baseUrl}${pathname}`, {
      ...rest,
      headers,
      ...(json !== undefined && { body: JSON.stringify(json) }),
    });
  };
}

/** A real API node on 127.0.0.1, port 0, with a database and Redis prefix of its own. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const database =
    typeof options.database === 'object'
      ? options.database
      : options.database === 'postgres'
        ? await openTestPostgres()
        : await openTestPglite();
  const jwtSecret = randomBytes(32).toString('base64url');
  const redisKeyPrefix = `test-${randomUUID()}`;
  const config: RuntimeConfig = {
    port: 0,
    host: '127.0.0.1',
    dataDir: path.join(tmpdir(), `reelroom-${randomUUID()}`),
    databaseUrl: undefined,
    redisUrl: options.redis ? TEST_REDIS_URL : undefined,
    jwtSecret,
    trustProxy: false,
    shutdownGraceMs: 2000,
    redisKeyPrefix,
    ...options.config,
    // A test signs many users up from 127.0.0.1; tests of the limit itself pass their own.
    limits: {
      ...options.config?.limits,
      signup: {
        perIp: { points: 100_000, windowSeconds: 3600 },
        ...options.config?.limits?.signup,
      },
    },
  };
  const node = await startNode(config, createLogger('silent'), { database });

  const request = requestTo(node.url);

  return {
    ...node,
    database,
    jwtSecret,
    redisKeyPrefix,
    request,
    async signup(name = 'Test User') {
      const response = await request('/api/v1/auth/signup', {
        method: 'POST',
        json: { email: `${randomUUID()}@example.test`, password: 'correct horse battery', name },
      });
      if (response.status !== 201)
        throw new Error(`signup failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as Session;
    },
  };
}
