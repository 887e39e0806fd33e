import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { storedDigest } from '../security/support.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;
let session: Session;
let workspaceId: string;
let projectId: string;

beforeAll(async () => {
  node = await startTestNode();
  session = await node.signup('Prop');
  const workspaces = await (
    await node.request('/api/v1/workspaces', { token: session.accessToken })
  ).json();
  workspaceId = workspaces.workspaces[0].id;
  const created = await node.request('/api/v1/projects', {
    method: 'POST',
    token: session.accessToken,
    json: { workspaceId, title: 'Kept', topic: 'Kept' },
  });
  projectId = (await created.json()).project.id;
});
afterAll(() => node?.close());

/** A digest of every row we store; equal digests mean nothing was changed. */
const storedState = () => storedDigest(node.database.db);

/**
 * Cursors as a client could forge them: random text, text with control characters, base64url
 * of any JSON, of `[date, id]` pairs with dates from the whole JS range (Postgres holds less)
 * and ids of any kind, and ledger cursors with numbers of any size.
 */
function cursorArbitrary(controlText: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const b64 = (value: string) => Buffer.from(value).toString('base64url');
  return fc.oneof(
    fc.string({ maxLength: 30 }),
    controlText,
    fc.jsonValue({ maxDepth: 2 }).map((value) => b64(JSON.stringify(value))),
    fc
      .tuple(
        fc.oneof(
          fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
          fc.string({ maxLength: 24 }),
          fc.double(),
          fc.constant(null),
        ),
        fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }), controlText),
      )
      .map((pair) => b64(JSON.stringify(pair))),
    fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }).map((n) => b64(`ledger:${n}`)),
  );
}

describe('input errors', () => {
  const post = (path: string, init: RequestInit) =>
    node.request(`/api/v1${path}`, { method: 'POST', token: session.accessToken, ...init });

  it('malformed JSON is a 400 malformed_json', async () => {
    const response = await post('/workspaces', {
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('malformed_json');
  });

  it('a wrong type names the field', async () => {
    const response = await post('/workspaces', {
      headers: { 'content-type': 'application/json' },
      body: '{"name": 42}',
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toMatch(/^Invalid body: name: /);
    expect(body.error.details[0].path).toEqual(['name']);
  });

  it('an unknown field is named', async () => {
    const response = await post('/workspaces', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', isAdmin: true }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toContain("unknown field 'isAdmin'");
  });

  it('a bad path parameter is a 400 naming it, not a 500', async () => {
    const response = await node.request('/api/v1/projects/not-a-uuid', {
      token: session.accessToken,
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toMatch(/^Invalid path: id: /);
  });

  it('a body over 1 MiB is a 413 and is not stored', async () => {
    const before = await storedState();
    const response = await post('/workspaces', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(response.status).toBe(413);
    expect((await response.json()).error.code).toBe('payload_too_large');
    expect(await storedState()).toBe(before);
  });

  it('a body that is not JSON is a 415', async () => {
    const response = await post('/workspaces', {
      headers: { 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(response.status).toBe(415);
    expect((await response.json()).error.code).toBe('unsupported_media_type');
  });

  it('an unknown route is a 404 in the error shape', async () => {
    const response = await node.request('/api/v1/nope');
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('not_found');
  });
});

describe('OpenAPI', () => {
  it('serves an OpenAPI 3.1 document of every route, and a reference page at /docs', async () => {
    const doc = await (await node.request('/api/v1/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/auth/signup',
      '/auth/login',
      '/auth/refresh',
      '/auth/logout',
      '/me',
      '/workspaces',
      '/workspaces/{id}/members/{userId}',
      '/projects/{id}',
      '/workspaces/{id}/projects',
      '/health',
      '/ready',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.components.schemas.SignupBody.additionalProperties).toBe(false);
    const page = await node.request('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/api/v1/openapi.json');
    const script = await node.request('/docs/assets/swagger-ui-bundle.js');
    expect(script.status).toBe(200);
    expect(
      Number(script.headers.get('content-length') ?? (await script.arrayBuffer()).byteLength),
    ).toBeGreaterThan(100_000);
  });
});

describe('property: random requests to every route', () => {
  it('never get a 5xx, and a refused request changes nothing stored', async () => {
    const doc = await (await node.request('/api/v1/openapi.json')).json();
    const operations: { method: string; path: string }[] = [];
    for (const [path, methods] of Object.entries(
      doc.paths as Record<string, Record<string, unknown>>,
    )) {
      for (const method of Object.keys(methods))
        operations.push({ method: method.toUpperCase(), path });
    }
    expect(operations.length).toBeGreaterThanOrEqual(15);

    // Text with at least one C0 control character (NUL among them) somewhere in it: Postgres
    // refuses NUL in text and jsonb, which made a 500 of any field that let one through.
    const control = fc.constantFrom('\u0000', '\u0001', '\u0007', '\u000b', '\u001b', '\u001f');
    const controlText = fc
      .tuple(fc.string({ maxLength: 12 }), control, fc.string({ maxLength: 12 }))
      .map(([before, character, after]) => `${before}${character}${after}`);
    const param = fc.oneof(
      fc.constant(workspaceId),
      fc.constant(projectId),
      fc.constant(session.user.id),
      fc.uuid(),
      fc.string({ maxLength: 40 }),
      controlText,
      fc.constantFrom('..', '%00', "' or 1=1 --", '../../etc/passwd', '9'.repeat(50)),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
      fc
        .dictionary(
          fc.constantFrom(
            'name',
            'email',
            'password',
            'role',
            'title',
            'topic',
            'workspaceId',
            'refreshToken',
            'extra',
          ),
          fc.oneof(
            fc.string({ maxLength: 30 }),
            controlText,
            fc.integer(),
            fc.constant(null),
            fc.boolean(),
            fc.constant(workspaceId),
          ),
        )
        .map((value) => JSON.stringify(value)),
      // Nearly valid bodies with a control character in one text field, every body route's
      // (fields whose valid values would start work, such as chat content, only ever get
      // poisoned values: a coach reply landing later would change what is stored).
      {
        weight: 4,
        arbitrary: fc
          .record({
            field: fc.constantFrom(
              'name',
              'email',
              'password',
              'title',
              'topic',
              'refreshToken',
              'content',
              'templateId',
              'packageId',
              'idempotencyKey',
              'niche',
              'successUrl',
            ),
            value: controlText,
            rest: fc.dictionary(
              fc.constantFrom('title', 'topic', 'name', 'role', 'workspaceId'),
              fc.constantFrom('Kept', 'viewer', workspaceId),
            ),
          })
          .map(({ field, value, rest }) => JSON.stringify({ ...rest, [field]: value })),
      },
      fc
        .record({ text: controlText, key: fc.constantFrom('platforms', 'goals') })
        .map(({ text, key }) => JSON.stringify({ [key]: [text] })),
      fc.record({ text: controlText }).map(({ text }) =>
        JSON.stringify({
          spec: {
            width: 320,
            height: 240,
            fps: 10,
            scenes: [{ text, durationSec: 1, background: { type: 'color', color: '#000000' } }],
          },
        }),
      ),
      // A NUL in a key.
      fc.constant(JSON.stringify({ 'na\u0000me': 'Kept' })),
      fc.string({ maxLength: 60 }),
    );
    const headers = fc.record({
      contentType: fc.constantFrom(
        'application/json',
        'text/plain',
        'application/json; charset=utf-8',
        undefined,
        'multipart/form-data',
      ),
      auth: fc.constantFrom('valid', 'none', 'garbage', 'Basic abc', 'Bearer '),
      query: fc.option(
        fc.record({
          cursor: cursorArbitrary(controlText),
          limit: fc.oneof(fc.constantFrom('1', '50'), fc.string({ maxLength: 5 })),
          workspace: fc.boolean(),
        }),
        { nil: undefined },
      ),
    });

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...operations),
        fc.array(param, { minLength: 2, maxLength: 2 }),
        body,
        headers,
        async (operation, params, rawBody, h) => {
          let index = 0;
          const path = operation.path.replace(/\{[^}]+\}/g, () =>
            encodeURIComponent(params[index++] ?? ''),
          );
          const requestHeaders: Record<string, string> = {};
          if (h.contentType) requestHeaders['content-type'] = h.contentType;
          if (h.auth === 'valid') requestHeaders.authorization = `Bearer ${session.accessToken}`;
          else if (h.auth === 'garbage') requestHeaders.authorization = `Bearer ${randomUUID()}`;
          else if (h.auth !== 'none') requestHeaders.authorization = h.auth;
          const query = h.query
            ? `?${new URLSearchParams({
                cursor: h.query.cursor,
                limit: h.query.limit,
                ...(h.query.workspace ? { workspaceId } : {}),
              })}`
            : '';
          const before = await storedState();
          const response = await fetch(`${node.url}/api/v1${path}${query}`, {
            method: operation.method,
            headers: requestHeaders,
            ...(['GET', 'HEAD'].includes(operation.method) ? {} : { body: rawBody }),
          });
          const text = await response.text();
          // A 503 `service_unavailable` is the deliberate answer of an integration this node
          // was not configured for (Stripe without its keys); any other 5xx is a defect.
          const deliberate =
            response.status === 503 && JSON.parse(text).error?.code === 'service_unavailable';
          if (!deliberate) {
            expect(response.status, `${operation.method} ${path} -> ${text}`).toBeLessThan(500);
          }
          if (response.status >= 400) {
            expect(JSON.parse(text).error.code).toEqual(expect.any(String));
            expect(await storedState(), `${operation.method} ${path} changed data`).toBe(before);
          }
        },
      ),
      { numRuns: 400, seed: 20261122 },
    );
  });
});

describe('property: forged cursors on every list route', () => {
  it('are a 400 naming cursor or a page, never a 5xx', async () => {
    const controlText = fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\u0000', '\u001b'), fc.string())
      .map((parts) => parts.join(''));
    const lists = [
      `/workspaces/${workspaceId}/projects?`,
      `/projects/${projectId}/assets?`,
      `/projects/${projectId}/renders?`,
      `/projects/${projectId}/chat/messages?`,
      `/billing/transactions?workspaceId=${workspaceId}&`,
      `/projects/${projectId}/pipeline-runs?`,
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...lists),
        cursorArbitrary(controlText),
        async (list, cursor) => {
          const response = await node.request(
            `/api/v1${list}${new URLSearchParams({ cursor, limit: '2' })}`,
            { token: session.accessToken },
          );
          const text = await response.text();
          expect([200, 400], `${list} ${JSON.stringify(cursor)} -> ${text}`).toContain(
            response.status,
          );
          if (response.status === 400) expect(JSON.parse(text).error.message).toContain('cursor');
        },
      ),
      { numRuns: 300, seed: 20261123 },
    );
  });
});

describe('CORS', () => {
  it('answers preflights only for the configured origins', async () => {
    const corsNode = await startTestNode({ config: { corsOrigins: ['https://app.example'] } });
    try {
      const preflight = (origin: string) =>
        fetch(`${corsNode.url}/api/v1/me`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'GET',
            'access-control-request-headers': 'authorization',
          },
        });
      const allowed = await preflight('https://app.example');
      expect(allowed.status).toBeLessThan(300);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const other = await preflight('https://evil.example');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await corsNode.close();
    }
  });
});
