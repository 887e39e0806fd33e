import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { controlCharacterIndex } from '../../shared/text.ts';
import { connectSocket } from '../realtime/support/clients.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { storedDigest, Tally } from './support.ts';

// Issue 15, item 3: a NUL (or another C0 control character) in any text field, over REST and
// Socket.IO, and a malformed page cursor on the five list routes, were 500s. Each must be a
// 400 naming the field, with nothing stored.

let node: TestNode;
let owner: Session;
let workspaceId: string;
let projectId: string;

beforeAll(async () => {
  node = await startTestNode();
  owner = await node.signup('Owner');
  const listed = await (
    await node.request('/api/v1/workspaces', { token: owner.accessToken })
  ).json();
  workspaceId = listed.workspaces[0].id;
  const created = await node.request('/api/v1/projects', {
    method: 'POST',
    token: owner.accessToken,
    json: { workspaceId, title: 'Kept', topic: 'Kept' },
  });
  projectId = (await created.json()).project.id;
});
afterAll(() => node?.close());

/** Control characters a field must refuse: NUL, BEL, ESC and a vertical tab. */
const CONTROL = ['\u0000', '\u0007', '\u001b', '\u000b'];

interface TextCase {
  method: string;
  /** The OpenAPI path this case covers. */
  route: string;
  path: () => string;
  /** A body that is valid except for the field the case poisons. */
  body: () => Record<string, unknown>;
  /** Dotted paths of the string fields of `body`. */
  fields: string[];
  auth: boolean;
}

const validSpec = () => ({
  width: 320,
  height: 240,
  fps: 10,
  scenes: [{ text: 'Hi', durationSec: 1, background: { type: 'color', color: '#112233' } }],
});

const cases = (): TextCase[] => [
  {
    method: 'POST',
    route: '/auth/signup',
    path: () => '/auth/signup',
    body: () => ({
      email: `${randomUUID()}@example.test`,
      password: 'correct horse battery',
      name: 'Eve',
    }),
    fields: ['email', 'password', 'name'],
    auth: false,
  },
  {
    method: 'POST',
    route: '/auth/login',
    path: () => '/auth/login',
    body: () => ({ email: owner.user.email, password: 'correct horse battery' }),
    fields: ['email', 'password'],
    auth: false,
  },
  {
    method: 'POST',
    route: '/auth/refresh',
    path: () => '/auth/refresh',
    body: () => ({ refreshToken: owner.refreshToken }),
    fields: ['refreshToken'],
    auth: false,
  },
  {
    method: 'POST',
    route: '/auth/logout',
    path: () => '/auth/logout',
    body: () => ({ refreshToken: owner.refreshToken }),
    fields: ['refreshToken'],
    auth: false,
  },
  {
    method: 'POST',
    route: '/workspaces',
    path: () => '/workspaces',
    body: () => ({ name: 'Studio' }),
    fields: ['name'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/workspaces/{id}/members',
    path: () => `/workspaces/${workspaceId}/members`,
    body: () => ({ email: `${randomUUID()}@example.test`, role: 'viewer' }),
    fields: ['email', 'role'],
    auth: true,
  },
  {
    method: 'PATCH',
    route: '/workspaces/{id}/members/{userId}',
    path: () => `/workspaces/${workspaceId}/members/${owner.user.id}`,
    body: () => ({ role: 'owner' }),
    fields: ['role'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/projects',
    path: () => '/projects',
    body: () => ({ workspaceId, title: 'Launch', topic: 'How we ship' }),
    fields: ['workspaceId', 'title', 'topic'],
    auth: true,
  },
  {
    method: 'PATCH',
    route: '/projects/{id}',
    path: () => `/projects/${projectId}`,
    body: () => ({ title: 'Renamed', topic: 'New topic' }),
    fields: ['title', 'topic'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/projects/{id}/renders',
    path: () => `/projects/${projectId}/renders`,
    body: () => ({ spec: validSpec(), idempotencyKey: 'once' }),
    fields: ['spec.scenes.0.text', 'spec.scenes.0.background.color', 'idempotencyKey'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/billing/checkout',
    path: () => '/billing/checkout',
    body: () => ({
      workspaceId,
      packageId: 'starter',
      successUrl: 'https://app.example.test/paid',
      cancelUrl: 'https://app.example.test/back',
    }),
    fields: ['workspaceId', 'packageId', 'successUrl', 'cancelUrl'],
    auth: true,
  },
  {
    method: 'PUT',
    route: '/coach/profile',
    path: () => '/coach/profile',
    body: () => ({
      platforms: ['youtube'],
      audienceSize: 1000,
      niche: 'cooking',
      goals: ['grow'],
      budgetUsd: 100,
    }),
    fields: ['platforms.0', 'niche', 'goals.0'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/projects/{id}/chat',
    path: () => `/projects/${projectId}/chat`,
    body: () => ({ content: 'What should we price it at?' }),
    fields: ['content'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/projects/{id}/plan',
    path: () => `/projects/${projectId}/plan`,
    body: () => ({ templateId: 'youtube-channel' }),
    fields: ['templateId'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/projects/{id}/pipeline-runs',
    path: () => `/projects/${projectId}/pipeline-runs`,
    body: () => ({
      steps: ['thumbnail', 'publish'],
      publish: { channelId: 'channel-one', privacy: 'private' },
      idempotencyKey: 'once',
    }),
    fields: ['steps.0', 'publish.channelId', 'publish.privacy', 'idempotencyKey'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/auth/google/exchange',
    path: () => '/auth/google/exchange',
    body: () => ({ loginCode: 'a'.repeat(43) }),
    fields: ['loginCode'],
    auth: false,
  },
  {
    method: 'POST',
    route: '/youtube/connect',
    path: () => '/youtube/connect',
    body: () => ({ workspaceId }),
    fields: ['workspaceId'],
    auth: true,
  },
  {
    method: 'POST',
    route: '/billing/grants',
    path: () => '/billing/grants',
    body: () => ({ workspaceId, credits: 10, reason: 'Thanks for the bug report' }),
    fields: ['workspaceId', 'reason'],
    auth: true,
  },
  {
    method: 'PATCH',
    route: '/projects/{id}/plan/tasks/{taskId}',
    path: () => `/projects/${projectId}/plan/tasks/some-task`,
    body: () => ({ done: true }),
    fields: [],
    auth: true,
  },
];

/** Sets the value at a dotted path (`spec.scenes.0.text`) of a JSON body. */
function poison(body: Record<string, unknown>, path: string, character: string) {
  const keys = path.split('.');
  let target = body as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  const last = keys.at(-1)!;
  const value = String(target[last]);
  // In the middle of the value, where a trim would not remove it.
  const at = value.indexOf('@') > 0 ? value.indexOf('@') : Math.ceil(value.length / 2);
  target[last] = `${value.slice(0, at)}${character}${value.slice(at)}`;
  return body;
}

async function send(testCase: TextCase, path: string, body: string) {
  return node.request(`/api/v1${path}`, {
    method: testCase.method,
    token: testCase.auth ? owner.accessToken : undefined,
    headers: { 'content-type': 'application/json' },
    body,
  });
}

describe('security: control characters in text fields', () => {
  it('covers every route that takes a JSON body', async () => {
    const doc = await (await node.request('/api/v1/openapi.json')).json();
    const withBody: string[] = [];
    for (const [path, methods] of Object.entries(
      doc.paths as Record<string, Record<string, { requestBody?: { content?: object } }>>,
    )) {
      for (const [method, operation] of Object.entries(methods)) {
        if (operation.requestBody?.content && 'application/json' in operation.requestBody.content)
          withBody.push(`${method.toUpperCase()} ${path}`);
      }
    }
    const covered = cases().map((c) => `${c.method} ${c.route}`);
    expect(withBody.filter((route) => !covered.includes(route))).toEqual([]);
  });

  it('a NUL or another C0 control character in any string field is a 400 naming it; nothing is stored', async () => {
    const tally = new Tally('control-characters-in-text-fields');
    for (const testCase of cases()) {
      const targets = [
        ...testCase.fields.map((field) => ({ field, key: false })),
        { field: 'x\u0000y', key: true },
      ];
      for (const { field, key } of targets) {
        for (const character of key ? ['\u0000'] : CONTROL) {
          const body = key
            ? { ...testCase.body(), [field]: 'value' }
            : poison(testCase.body(), field, character);
          const label = `${testCase.method} ${testCase.route} ${key ? 'key' : field} U+${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
          const before = await storedDigest(node.database.db);
          const response = await send(testCase, testCase.path(), JSON.stringify(body));
          const text = await response.text();
          const message: string = response.headers.get('content-type')?.includes('json')
            ? (JSON.parse(text).error?.message ?? '')
            : '';
          const after = await storedDigest(node.database.db);
          const named = key ? message.includes('unknown field') : message.includes(`${field}:`);
          tally.record(
            label,
            response.status !== 400
              ? `status ${response.status} ${text.slice(0, 160)}`
              : !named
                ? `400 without naming the field: ${message}`
                : after !== before
                  ? 'stored something'
                  : null,
          );
        }
      }
    }
    // A path parameter holding text (the plan task id).
    for (const character of CONTROL) {
      const testCase = cases().find((c) => c.route === '/projects/{id}/plan/tasks/{taskId}')!;
      const before = await storedDigest(node.database.db);
      const response = await send(
        testCase,
        `/projects/${projectId}/plan/tasks/${encodeURIComponent(`task${character}id`)}`,
        JSON.stringify({ done: true }),
      );
      const body = await response.json();
      tally.record(
        `PATCH plan task taskId U+${character.charCodeAt(0).toString(16)}`,
        response.status !== 400 || !body.error.message.includes('taskId:')
          ? `status ${response.status} ${JSON.stringify(body).slice(0, 160)}`
          : (await storedDigest(node.database.db)) !== before
            ? 'stored something'
            : null,
      );
    }
    tally.report();
    expect(tally.broken).toEqual([]);
  });

  it('chat:send over Socket.IO with a control character is refused naming content; nothing is stored', async () => {
    const tally = new Tally('control-characters-in-socket-payloads');
    const socket = connectSocket(node.url, owner.accessToken);
    try {
      expect(await socket.timeout(5000).emitWithAck('project:join', { projectId })).toEqual({
        ok: true,
      });
      for (const character of CONTROL) {
        const before = await storedDigest(node.database.db);
        const ack = (await socket
          .timeout(5000)
          .emitWithAck('chat:send', { projectId, content: `hello${character}there` })) as {
          error?: { code: string; message: string };
        };
        tally.record(
          `chat:send content U+${character.charCodeAt(0).toString(16)}`,
          ack.error?.code !== 'invalid_payload' || !ack.error.message.startsWith('content:')
            ? `ack ${JSON.stringify(ack)}`
            : (await storedDigest(node.database.db)) !== before
              ? 'stored something'
              : null,
        );
        const join = (await socket
          .timeout(5000)
          .emitWithAck('project:join', { projectId: `${projectId}${character}` })) as {
          error?: { code: string; message: string };
        };
        tally.record(
          `project:join projectId U+${character.charCodeAt(0).toString(16)}`,
          join.error?.code === 'invalid_payload' && join.error.message.startsWith('projectId:')
            ? null
            : `ack ${JSON.stringify(join)}`,
        );
      }
      const messages = await node.database.db
        .select()
        .from(tables.chatMessages)
        .where(eq(tables.chatMessages.projectId, projectId));
      expect(messages.filter((m) => controlCharacterIndex(m.content) >= 0)).toEqual([]);
    } finally {
      socket.disconnect();
    }
    tally.report();
    expect(tally.broken).toEqual([]);
  });
});

describe('security: malformed page cursors', () => {
  const b64 = (value: string) => Buffer.from(value).toString('base64url');
  const at = (createdAt: unknown, id: unknown, ...rest: unknown[]) =>
    b64(JSON.stringify([createdAt, id, ...rest]));
  const uuid = '00000000-0000-4000-8000-000000000000';
  const malformed: Record<string, string> = {
    'not base64url': '!!!not*base64!!!',
    'base64 of garbage': b64('garbage'),
    'base64 of an object': b64('{"a":1}'),
    'base64 of an empty list': b64('[]'),
    'numbers for both': at(1, 2),
    'only a date': b64(JSON.stringify(['2026-01-01T00:00:00.000Z'])),
    'three parts': at('2026-01-01T00:00:00.000Z', uuid, 'extra'),
    'id not a uuid': at('2026-01-01T00:00:00.000Z', 'not-a-uuid'),
    'id with quotes': at('2026-01-01T00:00:00.000Z', "' or 1=1 --"),
    'date that does not parse': at('2026-13-45T99:99:99.000Z', uuid),
    'date before Postgres': at('-271821-04-20T00:00:00.000Z', uuid),
    'date at the end of JS time': at('+275760-09-13T00:00:00.000Z', uuid),
    'date as a huge number': at(1e308, uuid),
    'date null': at(null, uuid),
    'date an object': at({ $gt: '' }, uuid),
    'a NUL': '\u0000',
    'a NUL inside': 'abc\u0000def',
    'base64 of a NUL id': at('2026-01-01T00:00:00.000Z', `${uuid}\u0000`),
    'ledger huge number': b64(`ledger:${'9'.repeat(25)}`),
    'ledger past safe integers': b64('ledger:99999999999999999'),
    'ledger negative': b64('ledger:-1'),
    'ledger exponent': b64('ledger:1e5'),
    'ledger not a number': b64('ledger:abc'),
    'too long': 'a'.repeat(500),
  };

  const routes = () => ({
    'GET /workspaces/{id}/projects': `/workspaces/${workspaceId}/projects`,
    'GET /projects/{id}/assets': `/projects/${projectId}/assets`,
    'GET /projects/{id}/renders': `/projects/${projectId}/renders`,
    'GET /projects/{id}/chat/messages': `/projects/${projectId}/chat/messages`,
    'GET /billing/transactions': `/billing/transactions?workspaceId=${workspaceId}`,
    'GET /projects/{id}/pipeline-runs': `/projects/${projectId}/pipeline-runs`,
  });

  it('are a 400 naming cursor on each list route', async () => {
    const tally = new Tally('malformed-cursors');
    for (const [route, path] of Object.entries(routes())) {
      for (const [name, cursor] of Object.entries(malformed)) {
        const separator = path.includes('?') ? '&' : '?';
        const response = await node.request(
          `/api/v1${path}${separator}${new URLSearchParams({ cursor, limit: '1' })}`,
          { token: owner.accessToken },
        );
        const text = await response.text();
        const ok =
          response.status === 400 && (JSON.parse(text).error.message as string).includes('cursor:');
        tally.record(
          `${route} ${name}`,
          ok ? null : `status ${response.status} ${text.slice(0, 160)}`,
        );
      }
    }
    tally.report();
    expect(tally.broken).toEqual([]);
  });

  it('still accept the cursors they return', async () => {
    for (const title of ['One', 'Two']) {
      await node.request('/api/v1/projects', {
        method: 'POST',
        token: owner.accessToken,
        json: { workspaceId, title, topic: title },
      });
    }
    const first = await (
      await node.request(`/api/v1/workspaces/${workspaceId}/projects?limit=1`, {
        token: owner.accessToken,
      })
    ).json();
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await node.request(
      `/api/v1/workspaces/${workspaceId}/projects?limit=1&cursor=${first.nextCursor}`,
      { token: owner.accessToken },
    );
    expect(second.status).toBe(200);
    expect((await second.json()).projects[0].id).not.toBe(first.projects[0].id);
  });
});
