import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import {
  api,
  apiRoutes,
  callRoute,
  type Example,
  examples,
  json,
  type RouteEntry,
  seedTenants,
  type Tenants,
} from './support/route-table.ts';
import { storedDigest, Tally } from './support.ts';

// Issue 15, item 5: the tenant matrix, generated from Hono's route table. Every route that
// names a resource (a path id, or a workspace in its query or body) is called on A's resources
// as B's owner, with no token, as A's viewer and as A's editor.

let node: TestNode;
let tenants: Tenants;
let routes: RouteEntry[];
let byRoute: Record<string, Example>;

beforeAll(async () => {
  node = await startTestNode({
    config: {
      renderWorkers: false,
      pipeline: { workers: false },
      reconcileIntervalMs: 3_600_000,
    },
  });
  tenants = await seedTenants(node);
  byRoute = examples(tenants);
  routes = apiRoutes(node).filter((route) => route.params.length > 0 || route.key in byRoute);
  // The coach's reply to the seeded message is written in the background; let it land first so
  // the digest below only moves if a request moved it.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const listed = await json(
      await api(node, tenants.ownerA, `/projects/${tenants.ids.projectId}/chat/messages`),
    );
    const settled =
      listed.messages?.length >= 2 &&
      listed.messages.every((m: { status?: string }) => m.status !== 'streaming');
    if (settled || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 120_000);
afterAll(() => node?.close());

const isMutation = (route: RouteEntry) => route.method !== 'GET';
const roleOf = (route: RouteEntry, example: Example) =>
  example.role ?? (isMutation(route) ? 'editor' : 'viewer');
const RANK = { viewer: 0, editor: 1, owner: 2 } as const;

/** What the body says about A, if anything: the marker in titles and names, A's emails. */
function leaks(text: string): string | null {
  for (const secret of [tenants.marker, tenants.ownerA.user.email, tenants.viewerA.user.email]) {
    if (text.includes(secret)) return `leaks ${secret}`;
  }
  return null;
}

async function snapshotOfA() {
  const project = await json(await api(node, tenants.ownerA, `/projects/${tenants.ids.projectId}`));
  const members = await json(
    await api(node, tenants.ownerA, `/workspaces/${tenants.workspaceA}/members`),
  );
  return JSON.stringify({ project, members });
}

describe('security: tenant matrix', () => {
  it('covers every id-bearing route of the route table', () => {
    // A new id-bearing route must land here with a way to fill its ids.
    expect(routes.length).toBeGreaterThan(30);
    const keys = routes.map((route) => route.key);
    for (const key of Object.keys(byRoute)) expect(keys).toContain(key);
  });

  it('another workspace gets a 404 and no token a 401, and nothing of A changes', async () => {
    const stranger = new Tally('tenant-matrix stranger');
    const anonymous = new Tally('tenant-matrix no-token');
    let refusedAsInvalid = 0;
    const before = await storedDigest(node.database.db);
    const snapshot = await snapshotOfA();
    for (const route of routes) {
      const example = byRoute[route.key] ?? {};
      const response = await callRoute(node, route, tenants, tenants.ownerB, example);
      const text = await response.text();
      const leak = leaks(text);
      let problem: string | null = null;
      if (leak) problem = `${response.status} ${leak}`;
      else if (response.status === 400) refusedAsInvalid += 1;
      else if (response.status !== 404) problem = `${response.status} ${text.slice(0, 200)}`;
      else if (!JSON.parse(text).error?.code) problem = `404 without the error body: ${text}`;
      stranger.record(route.key, problem);

      const bare = await callRoute(node, route, tenants, null, example);
      const bareText = await bare.text();
      anonymous.record(
        route.key,
        bare.status === 401 && !leaks(bareText) ? null : `${bare.status} ${bareText.slice(0, 200)}`,
      );
    }
    const after = await storedDigest(node.database.db);
    stranger.record('stored rows unchanged', after === before ? null : 'the tables changed');
    stranger.record(
      "A's project and members unchanged",
      (await snapshotOfA()) === snapshot ? null : 'changed',
    );
    console.log(`[security] tenant-matrix stranger: ${refusedAsInvalid} refused as 400 (held)`);
    stranger.report();
    anonymous.report();
    expect(stranger.broken).toEqual([]);
    expect(anonymous.broken).toEqual([]);
    expect(stranger.held).toBe(stranger.tried);
    expect(anonymous.held).toBe(anonymous.tried);
  });

  const memberCase = (who: 'viewer' | 'editor') => async () => {
    const session: Session = who === 'viewer' ? tenants.viewerA : tenants.editorA;
    const tally = new Tally(`tenant-matrix ${who}`);
    // Deletions last, so the resources the other routes need are still there.
    const ordered = [...routes].sort(
      (a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'),
    );
    for (const route of ordered) {
      const example = byRoute[route.key] ?? {};
      const allowed = RANK[who] >= RANK[roleOf(route, example)];
      const response = await callRoute(node, route, tenants, session, example);
      const status = response.status;
      const text = await response.text();
      let problem: string | null = null;
      if (allowed) {
        const ok = (status >= 200 && status < 300) || (example.alsoAllowed ?? []).includes(status);
        if (!ok) problem = `allowed to a ${who}, got ${status} ${text.slice(0, 200)}`;
      } else if (status !== 403) {
        problem = `refused to a ${who} expected 403, got ${status} ${text.slice(0, 200)}`;
      }
      tally.record(route.key, problem);
    }
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  };

  it('a viewer of A reads and is refused every change (403)', memberCase('viewer'));
  it("an editor of A reads and edits, and is refused the owner's routes", memberCase('editor'));
});
