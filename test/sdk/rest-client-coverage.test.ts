import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReelroomApiError, ReelroomClient } from '../../client-sdk/index.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode({ database: 'pglite' });
});
afterAll(async () => {
  await node?.close();
});

/** Routes a client does not call: other parties' redirects and webhooks. */
const NOT_CLIENT_CALLS = new Set([
  'post /billing/webhook', // Stripe's
  'get /youtube/callback', // Google's redirect of the browser
  'get /auth/google/callback', // likewise
  'get /auth/google/start', // a page the browser opens: `auth.googleStartUrl()`
]);

describe('ReelroomClient covers every route of the OpenAPI document', () => {
  it('reaches each operation through a typed method', async () => {
    const seen = new Set<string>();
    const recording: typeof fetch = (input, init) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      seen.add(`${(init?.method ?? 'GET').toLowerCase()} ${url.pathname.replace('/api/v1', '')}`);
      return fetch(input, init);
    };
    const client = new ReelroomClient({ baseUrl: node.url, fetch: recording });
    // A refusal is an answer: the route was reached, which is what is counted here.
    const attempt = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (error) {
        if (!(error instanceof ReelroomApiError)) throw error;
      }
    };
    const id = randomUUID();
    const session = await client.auth.signup({
      email: `${randomUUID()}@example.test`,
      password: 'correct horse battery',
      name: 'Coverage',
    });
    await client.auth.login({ email: session.user.email, password: 'correct horse battery' });
    await client.auth.me();
    await attempt(() => client.auth.googleExchange('x'.repeat(24)));
    const workspace = await client.workspaces.create('Coverage');
    await client.workspaces.list();
    await client.workspaces.get(workspace.id);
    await client.workspaces.roster(workspace.id);
    const invited = await client.workspaces.addMember(
      workspace.id,
      'nobody@example.test',
      'editor',
    );
    if ('invitation' in invited) {
      await client.workspaces.revokeInvitation(workspace.id, invited.invitation.id);
    }
    await attempt(() => client.workspaces.updateMember(workspace.id, id, 'viewer'));
    await attempt(() => client.workspaces.removeMember(workspace.id, id));
    const project = await client.projects.create({
      workspaceId: workspace.id,
      title: 'Covered',
      topic: 'every route',
    });
    await client.workspaces.projects(workspace.id, { limit: 5 });
    await client.projects.get(project.id);
    await client.projects.update(project.id, { title: 'Covered, again' });
    expect((await client.projects.script(project.id)).text).toBe('');
    await client.projects.costs(project.id);
    await attempt(() =>
      client.renders.submit(project.id, {
        spec: {
          width: 320,
          height: 180,
          fps: 10,
          scenes: [{ text: 'Hi', durationSec: 1, background: { type: 'color', color: '#112233' } }],
        },
      }),
    );
    await client.renders.list(project.id);
    await attempt(() => client.renders.get(id));
    await attempt(() => client.renders.cancel(id));
    await attempt(() => client.renders.output(id));
    await attempt(() => client.renders.thumbnail(id));
    await attempt(() => client.pipeline.start(project.id, { steps: ['thumbnail'] }));
    await client.pipeline.list(project.id);
    await attempt(() => client.pipeline.get(id));
    await attempt(() => client.pipeline.cancel(id));
    await attempt(() => client.pipeline.retry(id));
    // A 1x1 PNG, sent as multipart/form-data.
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
      'base64',
    );
    const asset = await client.assets.upload(project.id, new Blob([png]), 'dot.png');
    expect(asset.mediaType).toBe('image/png');
    await client.assets.list(project.id);
    await client.assets.get(asset.id);
    const content = await client.assets.content(asset.id);
    expect(Buffer.from(await content.arrayBuffer()).equals(png)).toBe(true);
    await client.billing.packages();
    await client.billing.balance(workspace.id);
    await client.billing.transactions(workspace.id, { limit: 2 });
    await attempt(() => client.billing.checkout({ workspaceId: workspace.id, packageId: 'basic' }));
    await attempt(() =>
      client.billing.grant({ workspaceId: workspace.id, credits: 5, reason: 'test' }),
    );
    await client.coach.profile();
    await client.coach.saveProfile({ platforms: ['youtube'] });
    await client.coach.templates();
    await client.coach.usage({ workspaceId: workspace.id });
    await client.coach.send(project.id, 'Hello coach');
    await client.coach.messages(project.id);
    await client.coach.decisions(project.id);
    await client.coach.plan(project.id);
    await attempt(() => client.coach.applyTemplate(project.id, 'youtube-memberships'));
    await attempt(() => client.coach.setTask(project.id, 'no-such-task', true));
    await attempt(() => client.youtube.connect(workspace.id));
    await client.youtube.channels(workspace.id);
    await attempt(() => client.youtube.disconnect(id));
    await client.youtube.quota(workspace.id);
    await client.operations.health();
    await client.operations.ready();
    await client.operations.features();
    expect(client.auth.googleStartUrl()).toBe(`${node.url}/api/v1/auth/google/start`);
    await client.projects.delete(project.id);
    // Last: a refresh, then logout.
    await client.auth.refresh();
    await client.auth.logout();

    const doc = (await (await node.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const missing: string[] = [];
    for (const [route, methods] of Object.entries(doc.paths)) {
      const pattern = new RegExp(`^${route.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const method of Object.keys(methods)) {
        const key = `${method} ${route}`;
        if (NOT_CLIENT_CALLS.has(key)) continue;
        const reached = [...seen].some((call) => {
          const [callMethod, callPath] = call.split(' ') as [string, string];
          return callMethod === method && pattern.test(callPath);
        });
        if (!reached) missing.push(key);
      }
    }
    expect(missing).toEqual([]);
  });
});
