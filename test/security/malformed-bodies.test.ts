import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../../server/http/middleware.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import {
  apiRoutes,
  type Example,
  examples,
  fillPath,
  type RouteEntry,
  seedTenants,
  type Tenants,
} from './support/route-table.ts';
import { storedDigest, Tally } from './support.ts';

// Issue 15, item 5: oversize and malformed bodies on every JSON route of the route table, and
// NUL and control characters in every string field of a valid example body. Each is a 4xx
// with the contract's error body, never a 5xx, and nothing is stored.

let node: TestNode;
let tenants: Tenants;
let routes: RouteEntry[];
let bodies: Record<string, Example>;

beforeAll(async () => {
  node = await startTestNode({
    config: {
      renderWorkers: false,
      pipeline: { workers: false },
      reconcileIntervalMs: 3_600_000,
      stripe: { webhookSecret: 'whsec_security_bodies' },
    },
  });
  tenants = await seedTenants(node);
  const p = '/api/v1';
  bodies = {
    ...examples(tenants),
    [`POST ${p}/auth/signup`]: {
      body: { email: 'someone@example.test', password: 'correct horse battery', name: 'Someone' },
    },
    [`POST ${p}/auth/login`]: {
      body: { email: tenants.ownerA.user.email, password: 'correct horse battery' },
    },
    [`POST ${p}/auth/refresh`]: { body: { refreshToken: tenants.ownerA.refreshToken } },
    [`POST ${p}/auth/logout`]: { body: { refreshToken: tenants.ownerA.refreshToken } },
    [`POST ${p}/workspaces`]: { body: { name: 'Another workspace' } },
    [`PUT ${p}/coach/profile`]: {
      body: { platforms: ['youtube'], niche: 'cooking', goals: ['grow'], budgetUsd: 10 },
    },
  };
  // Only JSON routes: uploads carry files (see hostile-uploads.test.ts).
  routes = apiRoutes(node).filter(
    (route) =>
      ['POST', 'PUT', 'PATCH'].includes(route.method) && !route.path.endsWith('/:id/assets'),
  );
  // Background writes of the seed (the coach's reply) land before the digests are taken.
  await new Promise((resolve) => setTimeout(resolve, 1500));
}, 120_000);
afterAll(() => node?.close());

const send = (route: RouteEntry, body: BodyInit, contentType = 'application/json') =>
  node.request(`/api/v1${fillPath(route, tenants)}`, {
    method: route.method,
    token: tenants.ownerA.accessToken,
    headers: { 'content-type': contentType },
    body,
  });

/** null when the answer is a 4xx with `{error: {code, message}}` (and, if given, that status). */
async function refused(response: Response, status?: number): Promise<string | null> {
  const text = await response.text();
  let body: { error?: { code?: unknown; message?: unknown } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const shaped = typeof body?.error?.code === 'string' && typeof body.error.message === 'string';
  const ok =
    response.status >= 400 &&
    response.status < 500 &&
    shaped &&
    (status === undefined || response.status === status);
  return ok ? null : `${response.status} ${text.slice(0, 200)}`;
}

/** Every string leaf of `value`, as a path of keys and indexes. */
function stringPaths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [at];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringPaths(item, [...at, i]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => stringPaths(item, [...at, key]));
  }
  return [];
}

function withString(value: unknown, at: (string | number)[], make: (s: string) => string): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of at.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = at.at(-1)!;
  parent[last] = make(parent[last] as string);
  return copy;
}

const CONTROL = ['\u0000', '\u0001', '\u0007', '\u001b', '\u001f'];

describe('security: malformed bodies', () => {
  it('oversize, invalid JSON and wrong content types are 4xx with the error body', async () => {
    const tally = new Tally('malformed-bodies');
    const before = await storedDigest(node.database.db);
    const oversize = JSON.stringify({ title: 'x'.repeat(MAX_JSON_BODY_BYTES + 1) });
    for (const route of routes) {
      tally.record(`${route.key} oversize`, await refused(await send(route, oversize), 413));
      // Routes without a body (cancel, retry) never read one; the rest must refuse garbage.
      const example = bodies[route.key];
      const webhook = route.path.endsWith('/billing/webhook');
      if (!example?.body && !webhook) continue;
      tally.record(`${route.key} invalid JSON`, await refused(await send(route, '{"title": ')));
      tally.record(
        `${route.key} not an object`,
        await refused(await send(route, '"just a string"')),
      );
      if (!example?.body) continue;
      tally.record(
        `${route.key} text/plain`,
        await refused(await send(route, JSON.stringify(example.body), 'text/plain'), 415),
      );
      tally.record(
        `${route.key} form-encoded`,
        await refused(await send(route, 'a=1', 'application/x-www-form-urlencoded'), 415),
      );
    }
    tally.record(
      'nothing stored',
      (await storedDigest(node.database.db)) === before ? null : 'the tables changed',
    );
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });

  it('NUL and control characters in every string field are a 400 naming the field', async () => {
    const tally = new Tally('control-characters');
    const before = await storedDigest(node.database.db);
    let covered = 0;
    for (const route of routes) {
      const example = bodies[route.key];
      if (!example?.body) continue;
      covered += 1;
      for (const at of stringPaths(example.body)) {
        for (const control of CONTROL) {
          const body = withString(
            example.body,
            at,
            (s) => `${s.slice(0, 1)}${control}${s.slice(1)}`,
          );
          const response = await send(route, JSON.stringify(body));
          const text = await response.clone().text();
          let problem = await refused(response, 400);
          const field = String(at[0]);
          if (!problem && !text.includes(field)) problem = `400 without naming ${field}: ${text}`;
          const code = control.charCodeAt(0).toString(16).padStart(4, '0');
          tally.record(`${route.key} ${at.join('.')} U+${code}`, problem);
        }
      }
    }
    expect(covered).toBeGreaterThan(15);
    tally.record(
      'nothing stored',
      (await storedDigest(node.database.db)) === before ? null : 'the tables changed',
    );
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });
});
