import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpErrorOf } from '../../server/http/error-status.ts';
import { REQUEST_EXAMPLES } from '../../server/http/openapi-examples.ts';
import { DomainError } from '../../shared/errors.ts';
import { submitRenderBodySchema } from '../../shared/render-spec.ts';
import { YJS_DOC_KINDS } from '../../shared/yjs-docs.ts';
import { REPO_ROOT } from '../support/processes.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

type Media = {
  schema?: { $ref?: string; properties?: Record<string, unknown>; required?: string[] };
  example?: unknown;
};
type Operation = {
  requestBody?: { required?: boolean; content?: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
};
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>> };

let node: TestNode;
let doc: OpenApi;

beforeAll(async () => {
  node = await startTestNode({ database: 'pglite' });
  doc = await (await node.request('/openapi.json')).json();
});
afterAll(async () => {
  await node?.close();
});

function operations(): Array<{ key: string; operation: Operation }> {
  return Object.entries(doc.paths).flatMap(([route, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      key: `${method} ${route}`,
      operation,
    })),
  );
}

describe('OpenAPI document', () => {
  it('answers /openapi.json directly, the same document as /api/v1/openapi.json', async () => {
    const root = await node.request('/openapi.json', { redirect: 'manual' });
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toMatch(/application\/json/);
    const body = await root.json();
    expect(body.openapi).toBe('3.1.0');
    const prefixed = await node.request('/api/v1/openapi.json', { redirect: 'manual' });
    expect(prefixed.status).toBe(200);
    expect(await prefixed.json()).toEqual(body);
  });

  it('declares the multipart body of the asset upload', () => {
    const body = doc.paths['/projects/{id}/assets']?.post?.requestBody;
    expect(body?.required).toBe(true);
    const multipart = body?.content?.['multipart/form-data']?.schema;
    expect(multipart?.properties).toHaveProperty('file');
    expect(multipart?.required).toEqual(['file']);
    expect(body?.content).toHaveProperty(['application/octet-stream']);
  });

  it("gives every error answer the Error schema and an example whose code has that answer's status", () => {
    let checked = 0;
    const mismatches: string[] = [];
    for (const { key, operation } of operations()) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const media = response.content?.['application/json'];
        if (Number(status) < 400 || !media) continue;
        // /ready's 503 is its readiness report, not an error body.
        if (key === 'get /ready') continue;
        expect(media.schema?.$ref, `${key} ${status}`).toBe('#/components/schemas/Error');
        const code = (media.example as { error?: { code?: string } } | undefined)?.error?.code;
        const mapped = code ? httpErrorOf(new DomainError(code, '')).status : undefined;
        if (mapped !== Number(status)) mismatches.push(`${key} ${status}: ${code} is ${mapped}`);
        checked += 1;
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });

  it('shows a real render spec as the render request example, valid by the shared schema', () => {
    const example =
      doc.paths['/projects/{id}/renders']?.post?.requestBody?.content?.['application/json']
        ?.example;
    const parsed = submitRenderBodySchema.safeParse(example);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data?.spec.scenes.length).toBeGreaterThan(1);
  });

  it('gives every JSON request body an example that passes its shared schema', () => {
    const missing: string[] = [];
    for (const { key, operation } of operations()) {
      const media = operation.requestBody?.content?.['application/json'];
      if (media && media.example === undefined) missing.push(key);
    }
    expect(missing).toEqual([]);
    for (const [key, { schema, example }] of Object.entries(REQUEST_EXAMPLES)) {
      const [method, route] = key.split(' ') as [string, string];
      expect(doc.paths[route]?.[method], key).toBeDefined();
      const parsed = schema.safeParse(example);
      expect(parsed.error?.issues ?? [], key).toEqual([]);
    }
  });
});

/**
 * The member names of an interface in shared/socket-events.ts, read from its source: the event
 * maps are types only, so this is how a test sees them at run time.
 */
async function eventNames(interfaceName: string): Promise<string[]> {
  const source = await readFile(path.join(REPO_ROOT, 'shared/socket-events.ts'), 'utf8');
  const start = source.indexOf(`export interface ${interfaceName} {`);
  expect(start, interfaceName).toBeGreaterThanOrEqual(0);
  const body = source.slice(start, source.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(?:'([^']+)'|([A-Za-z_$][\w$]*)): \(/gm)].map(
    (match) => (match[1] ?? match[2]) as string,
  );
}

describe('AsyncAPI document', () => {
  type Ref = { $ref: string };
  type AsyncApi = {
    asyncapi: string;
    channels: Record<string, { address: string | null; messages: Record<string, Ref> }>;
    operations: Record<string, { action: string; channel: Ref }>;
    components: { messages: Record<string, { name?: string }> };
  };

  it('documents exactly the events of the shared event maps, and both Yjs documents', async () => {
    const response = await node.request('/asyncapi.json', { redirect: 'manual' });
    expect(response.status).toBe(200);
    const asyncapi: AsyncApi = await response.json();
    expect(asyncapi.asyncapi).toBe('3.0.0');
    expect(await (await node.request('/api/v1/asyncapi.json')).json()).toEqual(asyncapi);

    const namesIn = (channel: string) =>
      Object.values(asyncapi.channels[channel]?.messages ?? {}).map(
        (ref) => asyncapi.components.messages[ref.$ref.split('/').pop() ?? '']?.name,
      );
    const clientEvents = await eventNames('ClientToServerEvents');
    const serverEvents = await eventNames('ServerToClientEvents');
    expect(clientEvents).toContain('project:join');
    expect(serverEvents).toContain('render:progress');
    expect(namesIn('socket').sort()).toEqual([...clientEvents].sort());
    expect(namesIn('projectRoom').sort()).toEqual([...serverEvents].sort());
    // No other message anywhere carries an event name.
    const named = Object.values(asyncapi.components.messages)
      .map((message) => message.name)
      .filter(Boolean);
    expect(named.sort()).toEqual([...clientEvents, ...serverEvents].sort());
    const actions = Object.values(asyncapi.operations);
    expect(
      actions
        .filter((op) => op.channel.$ref === '#/channels/socket')
        .every((op) => op.action === 'send'),
    ).toBe(true);
    expect(
      actions
        .filter((op) => op.channel.$ref === '#/channels/projectRoom')
        .every((op) => op.action === 'receive'),
    ).toBe(true);

    for (const kind of YJS_DOC_KINDS) {
      expect(asyncapi.channels[`${kind}Document`]?.address).toBe(
        `/yjs/project/{projectId}/${kind}`,
      );
    }

    const page = await node.request('/docs/events');
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const name of [...clientEvents, ...serverEvents])
      expect(html).toContain(`<code>${name}</code>`);
    expect(html).toContain('project/&lt;projectId&gt;/script');
  });
});
