import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tables } from '../../../server/db/index.ts';
import { API_PREFIX, createApp } from '../../../server/http/app.ts';
import type { Session } from '../../../shared/accounts.ts';
import { makeImage } from '../../render-farm/media.ts';
import type { TestNode } from '../../support/test-node.ts';

/** One route of the app as Hono keeps it: `POST /api/v1/projects/:id`. */
export interface RouteEntry {
  method: string;
  path: string;
  key: string;
  params: string[];
}

/**
 * Every concrete `/api/v1` route of the app, read from Hono's own route table (so routes left
 * out of the OpenAPI document are covered too), without the catch-all middleware entries.
 */
export function apiRoutes(node: TestNode): RouteEntry[] {
  const seen = new Map<string, RouteEntry>();
  for (const route of createApp(node.services).routes) {
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    if (!route.path.startsWith(`${API_PREFIX}/`)) continue;
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) continue;
    const params = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
    seen.set(key, { method: route.method, path: route.path, key, params });
  }
  return [...seen.values()];
}

/** A tenant: workspace A with an owner, a viewer, an editor and one of each resource; B's owner. */
export interface Tenants {
  ownerA: Session;
  viewerA: Session;
  editorA: Session;
  ownerB: Session;
  workspaceA: string;
  workspaceB: string;
  /** A string that only A's data contains (project title and workspace name carry it). */
  marker: string;
  ids: {
    projectId: string;
    renderId: string;
    runId: string;
    assetId: string;
    invitationId: string;
    taskId: string;
    channelId: string;
  };
  png: Buffer;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert on them
export async function json(response: Response): Promise<any> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
}

/** `/api/v1<pathname>` as `session` (or no token with `null`). */
export function api(
  node: TestNode,
  session: Session | null,
  pathname: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<Response> {
  return node.request(`${API_PREFIX}${pathname}`, {
    ...init,
    ...(session && { token: session.accessToken }),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: as json()
async function expectStatus(response: Response, statuses: number[], what: string): Promise<any> {
  const body = await json(response);
  if (!statuses.includes(response.status)) {
    throw new Error(`seed: ${what} answered ${response.status} ${JSON.stringify(body)}`);
  }
  return body;
}

/** A small real PNG made with FFmpeg. */
export async function smallPng(): Promise<Buffer> {
  return readFile(await makeImage(path.join(tmpdir(), `security-${randomUUID()}.png`), '64x48'));
}

/** Seeds two workspaces through the REST API: A with members and resources, B empty. */
export async function seedTenants(node: TestNode): Promise<Tenants> {
  const marker = `secret-${randomUUID().slice(0, 8)}`;
  const [ownerA, viewerA, editorA, ownerB] = await Promise.all([
    node.signup('Owner A'),
    node.signup('Viewer A'),
    node.signup('Editor A'),
    node.signup('Owner B'),
  ]);
  const workspaceOf = async (session: Session) =>
    (await expectStatus(await api(node, session, '/workspaces'), [200], 'list workspaces'))
      .workspaces[0].id as string;
  const workspaceA = await workspaceOf(ownerA);
  const workspaceB = await workspaceOf(ownerB);
  for (const [member, role] of [
    [viewerA, 'viewer'],
    [editorA, 'editor'],
  ] as const) {
    await expectStatus(
      await api(node, ownerA, `/workspaces/${workspaceA}/members`, {
        method: 'POST',
        json: { email: member.user.email, role },
      }),
      [201],
      `add ${role}`,
    );
  }
  const invitation = await expectStatus(
    await api(node, ownerA, `/workspaces/${workspaceA}/members`, {
      method: 'POST',
      json: { email: `${randomUUID()}@example.test`, role: 'viewer' },
    }),
    [202],
    'invite',
  );
  const project = await expectStatus(
    await api(node, ownerA, '/projects', {
      method: 'POST',
      json: { workspaceId: workspaceA, title: `Project ${marker}`, topic: `Topic ${marker}` },
    }),
    [201],
    'create project',
  );
  const projectId = project.project.id as string;
  const png = await smallPng();
  const asset = await expectStatus(
    await api(node, ownerA, `/projects/${projectId}/assets`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(png),
    }),
    [201],
    'upload asset',
  );
  const render = await expectStatus(
    await api(node, ownerA, `/projects/${projectId}/renders`, {
      method: 'POST',
      json: { spec: RENDER_SPEC },
    }),
    [202],
    'submit render',
  );
  const run = await expectStatus(
    await api(node, ownerA, `/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['thumbnail'] },
    }),
    [202],
    'start pipeline run',
  );
  await expectStatus(
    await api(node, ownerA, `/projects/${projectId}/plan`, {
      method: 'POST',
      json: { templateId: 'premium-community' },
    }),
    [200, 201],
    'apply plan',
  );
  await expectStatus(
    await api(node, ownerA, `/projects/${projectId}/chat`, {
      method: 'POST',
      json: { content: `Hello coach ${marker}` },
    }),
    [202],
    'chat',
  );
  // A connected YouTube channel of A, straight into its table (the test node has no Google):
  // its routes are checked for who may reach it, which never gets as far as Google.
  const channelId = randomUUID();
  await node.database.db.insert(tables.youtubeChannels).values({
    id: channelId,
    workspaceId: workspaceA,
    youtubeChannelId: `UC${marker}`,
    title: 'A channel',
    clientId: 'tenant-matrix-client',
    refreshTokenCiphertext: 'not.a.token',
    tokenKeyId: 'none',
    connectedBy: ownerA.user.id,
    createdAt: new Date(),
    updatedAt: new Date(),
  });
  return {
    ownerA,
    viewerA,
    editorA,
    ownerB,
    workspaceA,
    workspaceB,
    marker,
    png,
    ids: {
      projectId,
      renderId: render.render.id,
      runId: run.run.id,
      assetId: asset.asset.id,
      invitationId: invitation.invitation.id,
      taskId: 'survey-audience',
      channelId,
    },
  };
}

export const RENDER_SPEC = {
  width: 320,
  height: 180,
  fps: 25,
  scenes: [{ text: 'Hello', durationSec: 1, background: { type: 'color', color: '#203040' } }],
};

/** The path of `route` with A's real ids filled in by parameter name and resource. */
export function fillPath(route: RouteEntry, tenants: Tenants): string {
  const { ids } = tenants;
  const byResource: Record<string, string> = {
    workspaces: tenants.workspaceA,
    projects: ids.projectId,
    renders: ids.renderId,
    'pipeline-runs': ids.runId,
    assets: ids.assetId,
    channels: ids.channelId,
  };
  return (
    route.path
      .slice(API_PREFIX.length)
      .replace(/\/([\w-]+)\/:id\b/, (_, resource: string) => {
        const id = byResource[resource];
        if (!id) throw new Error(`no id of A for ${route.key}`);
        return `/${resource}/${id}`;
      })
      // A's owner: no viewer or editor may change or remove them, and B may not learn of them.
      .replace(':userId', tenants.ownerA.user.id)
      .replace(':invitationId', ids.invitationId)
      .replace(':taskId', ids.taskId)
  );
}

/** A request's body and query beside its path. */
export interface Example {
  body?: unknown;
  /** A raw body (uploads) instead of JSON. */
  raw?: { contentType: string; bytes: Buffer };
  query?: Record<string, string>;
  /** The least role that may do it; default viewer for GET, editor otherwise. */
  role?: 'viewer' | 'editor' | 'owner';
  /** Statuses a member allowed to do it may get besides 2xx (a queued render has no output yet). */
  alsoAllowed?: number[];
}

/**
 * Valid example requests per route, against A's resources. A route whose workspace comes in
 * the query or the body (not the path) is tenant-scoped too and is listed here.
 */
export function examples(tenants: Tenants): Record<string, Example> {
  const ws = tenants.workspaceA;
  const p = API_PREFIX;
  return {
    [`POST ${p}/projects`]: { body: { workspaceId: ws, title: 'New', topic: 'New' } },
    [`PATCH ${p}/projects/:id`]: { body: { title: 'Renamed by a member' } },
    [`DELETE ${p}/projects/:id`]: { role: 'owner' },
    [`POST ${p}/workspaces/:id/members`]: {
      body: { email: `${randomUUID()}@example.test`, role: 'viewer' },
      role: 'owner',
    },
    [`PATCH ${p}/workspaces/:id/members/:userId`]: { body: { role: 'viewer' }, role: 'owner' },
    [`DELETE ${p}/workspaces/:id/members/:userId`]: { role: 'owner' },
    [`DELETE ${p}/workspaces/:id/invitations/:invitationId`]: { role: 'owner' },
    [`DELETE ${p}/youtube/channels/:id`]: { role: 'owner' },
    [`POST ${p}/projects/:id/renders`]: { body: { spec: RENDER_SPEC }, alsoAllowed: [402] },
    [`GET ${p}/renders/:id/output`]: { alsoAllowed: [404, 409] },
    [`GET ${p}/renders/:id/thumbnail`]: { alsoAllowed: [404, 409] },
    [`POST ${p}/renders/:id/cancel`]: { alsoAllowed: [409] },
    [`POST ${p}/projects/:id/pipeline-runs`]: {
      body: { steps: ['thumbnail'] },
      alsoAllowed: [402, 409],
    },
    [`POST ${p}/pipeline-runs/:id/cancel`]: { alsoAllowed: [409] },
    [`POST ${p}/pipeline-runs/:id/retry`]: { alsoAllowed: [409] },
    [`POST ${p}/projects/:id/chat`]: { body: { content: 'A member asks' }, role: 'viewer' },
    [`POST ${p}/projects/:id/plan`]: { body: { templateId: 'premium-community' } },
    [`PATCH ${p}/projects/:id/plan/tasks/:taskId`]: { body: { done: true } },
    [`POST ${p}/projects/:id/assets`]: {
      raw: { contentType: 'image/png', bytes: tenants.png },
    },
    [`GET ${p}/billing/balance`]: { query: { workspaceId: ws } },
    [`GET ${p}/billing/transactions`]: { query: { workspaceId: ws } },
    [`GET ${p}/coach/usage`]: { query: { workspaceId: ws }, role: 'owner' },
    [`POST ${p}/billing/checkout`]: {
      body: { workspaceId: ws, packageId: 'starter' },
      role: 'owner',
      alsoAllowed: [503],
    },
    [`POST ${p}/billing/grants`]: {
      body: { workspaceId: ws, credits: 10, reason: 'security test' },
      role: 'owner',
    },
  };
}

/** Sends `route` as `session` with its example, to A's resources. */
export function callRoute(
  node: TestNode,
  route: RouteEntry,
  tenants: Tenants,
  session: Session | null,
  example: Example,
): Promise<Response> {
  const query = example.query ? `?${new URLSearchParams(example.query)}` : '';
  const init: RequestInit & { json?: unknown } = { method: route.method };
  if (example.raw) {
    init.headers = { 'content-type': example.raw.contentType };
    init.body = new Uint8Array(example.raw.bytes);
  } else if (example.body !== undefined) {
    init.json = example.body;
  } else if (route.method !== 'GET' && route.method !== 'DELETE') {
    init.json = {};
  }
  return api(node, session, `${fillPath(route, tenants)}${query}`, init);
}
