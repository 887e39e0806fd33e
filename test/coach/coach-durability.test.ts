import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Database, openDatabase } from '../../server/db/index.ts';
import type { RuntimeConfig } from '../../server/runtime.ts';
import type { Session } from '../../shared/accounts.ts';
import type { ChatMessage } from '../../shared/coach.ts';
import { dropRedisPrefix } from '../realtime/support/realtime-fixture.ts';
import { openTestPostgres } from '../support/databases.ts';
import { type NodeProcess, spawnEntry } from '../support/processes.ts';
import { TEST_REDIS_URL } from '../support/services.ts';
import { requestTo } from '../support/test-node.ts';
import {
  type CoachNode,
  chatSend,
  clusterSecret,
  connectRoom,
  type RecordingSocket,
  startCoachNode,
  WAIT,
} from './support/coach-fixture.ts';
import { FakeLlmServer, type RecordedRequest } from './support/fake-llm-server.ts';

/** Short leases: a silent node's reply is taken over within about two seconds. */
const replies: RuntimeConfig['coachReplies'] = {
  queue: { leaseMs: 1500 },
  heartbeatMs: 250,
  sweepIntervalMs: 0,
};

const lastQuestion = (request: RecordedRequest) =>
  (request.body.messages as Array<{ content: string }>).at(-1)?.content ?? '';
/** What the healthy node answers: 40 tokens naming the question. */
const answerTo = (question: string) =>
  Array.from({ length: 40 }, (_, i) => `${question.includes('first') ? 'one' : 'two'}${i} `);

/** The project's chat, oldest first. */
async function chatOf(node: CoachNode, session: Session, projectId: string) {
  const response = await node.request(`/api/v1/projects/${projectId}/chat/messages?limit=100`, {
    token: session.accessToken,
  });
  return ((await response.json()) as { messages: ChatMessage[] }).messages.reverse();
}

/** A reply's events as the socket got them: `token:<delta>`, `error:<code>`, `done`. */
function replyEvents(client: RecordingSocket, replyId: string): string[] {
  return client.events
    .filter((e) => e.event.startsWith('chat:') && e.payload.messageId === replyId)
    .map((e) =>
      e.event === 'chat:token'
        ? `token:${e.payload.delta as string}`
        : e.event === 'chat:error'
          ? `error:${(e.payload.error as { code: string }).code}`
          : e.event.slice('chat:'.length),
    );
}

describe('a reply survives the crash of the node streaming it (Postgres + Redis)', () => {
  let database: Database & { url: string };
  let fake: FakeLlmServer;
  let nodeA: NodeProcess | undefined;
  let nodeB: CoachNode | undefined;
  const prefix = `test-${randomUUID()}`;

  beforeAll(async () => {
    database = await openTestPostgres();
    // Node A's provider streams for a minute (it is killed long before); node B's answers.
    fake = await FakeLlmServer.start('openai', {
      reply: (request) =>
        request.headers.authorization === 'Bearer node-a'
          ? { tokens: Array.from({ length: 3000 }, (_, i) => `a${i} `), delayMs: 20 }
          : { tokens: answerTo(lastQuestion(request)), delayMs: 2 },
    });
    const config: RuntimeConfig = {
      port: 0,
      host: '127.0.0.1',
      dataDir: path.join(tmpdir(), `reelroom-${randomUUID()}`),
      databaseUrl: database.url,
      redisUrl: TEST_REDIS_URL,
      jwtSecret: clusterSecret(prefix),
      trustProxy: false,
      shutdownGraceMs: 2000,
      redisKeyPrefix: prefix,
      renderWorkers: false,
      coach: {
        provider: 'openai',
        openai: { apiKey: 'node-a', baseUrl: fake.baseUrl },
        maxRetries: 0,
      },
      coachReplies: replies,
    };
    nodeA = await spawnEntry('test/coach/support/coach-node-main.ts', {
      COACH_NODE: JSON.stringify(config),
    });
  });

  afterAll(async () => {
    await nodeA?.stop('SIGKILL');
    await nodeB?.close();
    await fake?.close();
    await database?.close();
    await dropRedisPrefix(prefix);
  });

  it('node A is killed mid-reply; node B restarts the reply, stores it once, complete, and answers the next question after it', async () => {
    const requestA = requestTo(nodeA!.url);
    const signup = await requestA('/api/v1/auth/signup', {
      method: 'POST',
      json: {
        email: `${randomUUID()}@example.test`,
        password: 'correct horse battery',
        name: 'Ada',
      },
    });
    const owner = (await signup.json()) as Session;
    const { workspaces } = (await (
      await requestA('/api/v1/workspaces', { token: owner.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const { project } = (await (
      await requestA('/api/v1/projects', {
        method: 'POST',
        token: owner.accessToken,
        json: { workspaceId: workspaces[0]!.id, title: 'Launch', topic: 'A paid community' },
      })
    ).json()) as { project: { id: string } };
    const projectId = project.id;

    // Two questions at once, both accepted by node A, the only node: it streams the first.
    const onA = await connectRoom(nodeA!.url, owner, projectId);
    const acks = await Promise.all([
      chatSend(onA, projectId, 'the first question'),
      chatSend(onA, projectId, 'the second question'),
    ]);
    for (const ack of acks) expect(ack).toHaveProperty('messageId');
    await vi.waitFor(() => expect(fake.requests).toHaveLength(1), WAIT);

    // Node B joins the cluster; a member in the room on B watches node A's stream.
    nodeB = await startCoachNode(
      { provider: 'openai', openai: { apiKey: 'node-b', baseUrl: fake.baseUrl }, maxRetries: 0 },
      { database, redisKeyPrefix: prefix, replies },
    );
    const watcher = await nodeB.connect(owner, projectId);
    const [q1, r1, q2, r2] = await chatOf(nodeB, owner, projectId);
    // Accept order: each reply right after its question, the first one's reply streaming.
    expect([q1?.role, r1?.role, q2?.role, r2?.role]).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    expect(r1).toMatchObject({ replyTo: q1!.id, status: 'pending' });
    expect(r2).toMatchObject({ replyTo: q2!.id, status: 'pending' });
    expect(lastQuestion(fake.requests[0]!)).toContain(q1!.content);
    await vi.waitFor(() => expect(watcher.tokens(r1!.id).length).toBeGreaterThanOrEqual(3), WAIT);

    await nodeA!.stop('SIGKILL');

    await vi.waitFor(() => expect(watcher.of('chat:done')).toHaveLength(2), WAIT);
    // The first reply: node A's partial, the restart, node B's whole reply, done. Nothing else.
    const first = replyEvents(watcher, r1!.id);
    const restart = first.indexOf('error:reply_restarted');
    expect(restart).toBeGreaterThan(0);
    expect(first.slice(0, restart).every((e) => e.startsWith('token:a'))).toBe(true);
    expect(first.at(-1)).toBe('done');
    const replayed = first.slice(restart + 1, -1);
    expect(replayed.every((e) => e.startsWith('token:'))).toBe(true);
    const firstText = replayed.map((e) => e.slice('token:'.length)).join('');
    expect(firstText).toBe(answerTo(q1!.content).join(''));
    // The second reply streams after the first is done, once, in full.
    const second = replyEvents(watcher, r2!.id);
    expect(second.filter((e) => e.startsWith('error:'))).toEqual([]);
    expect(second.at(-1)).toBe('done');
    expect(watcher.tokens(r2!.id).join('')).toBe(answerTo(q2!.content).join(''));
    const lastOfFirst = watcher.events.findLastIndex((e) => e.payload.messageId === r1!.id);
    const firstOfSecond = watcher.events.findIndex(
      (e) => e.event === 'chat:token' && e.payload.messageId === r2!.id,
    );
    expect(lastOfFirst).toBeLessThan(firstOfSecond);

    // Stored once each, complete, equal to what the room got in the final stream.
    const chat = await chatOf(nodeB, owner, projectId);
    expect(chat.map((m) => [m.id, m.status])).toEqual([
      [q1!.id, 'complete'],
      [r1!.id, 'complete'],
      [q2!.id, 'complete'],
      [r2!.id, 'complete'],
    ]);
    expect(chat[1]!.content).toBe(firstText);
    expect(chat[3]!.content).toBe(watcher.tokens(r2!.id).join(''));
    // Node A asked once; node B asked for the restarted reply and for the next one.
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer node-a',
      'Bearer node-b',
      'Bearer node-b',
    ]);
  });
});

describe('a reply cut by a shutdown is answered after the restart (embedded, in-process queue)', () => {
  let fake: FakeLlmServer;
  const nodes: CoachNode[] = [];
  const jwtSecret = randomBytes(32).toString('base64url');
  // The embedded database on disk, as `npm start` keeps it under DATA_DIR: it outlives the node.
  const dataDir = path.join(tmpdir(), `reelroom-pglite-${randomUUID()}`);

  beforeAll(async () => {
    // The first request streams until the node stops it; the one after the restart answers.
    fake = await FakeLlmServer.start('openai', {
      reply: (request, index) =>
        index === 0
          ? { tokens: Array.from({ length: 3000 }, (_, i) => `a${i} `), delayMs: 20 }
          : { tokens: answerTo(lastQuestion(request)), delayMs: 25 },
    });
  });

  afterAll(async () => {
    for (const node of nodes) await node.close();
    await fake?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('the pending reply survives the node; the start-up sweep queues it again and it completes once', async () => {
    const coach = {
      provider: 'openai' as const,
      openai: { apiKey: 'test-key', baseUrl: fake.baseUrl },
      maxRetries: 0,
    };
    const first = await startCoachNode(coach, {
      database: await openDatabase({ dataDir }),
      jwtSecret,
      replies,
    });
    nodes.push(first);
    const owner = await first.signup('Ada');
    const { projectId } = await first.project(owner);
    const before = await first.connect(owner, projectId);
    await chatSend(before, projectId, 'the first question');
    await vi.waitFor(() => expect(before.of('chat:token').length).toBeGreaterThanOrEqual(3), WAIT);
    const replyId = (before.of('chat:message')[0]!.message as { replyId: string }).replyId;
    // A graceful stop mid-reply: the stream stops, the job goes back to a queue that goes away.
    await first.close();

    const second = await startCoachNode(coach, {
      database: await openDatabase({ dataDir }),
      jwtSecret,
      replies,
    });
    nodes.push(second);
    const after = await second.connect(owner, projectId);
    await vi.waitFor(async () => {
      const chat = await chatOf(second, owner, projectId);
      expect(chat.map((m) => m.status)).toEqual(['complete', 'complete']);
    }, WAIT);
    const chat = await chatOf(second, owner, projectId);
    expect(chat[1]).toMatchObject({
      id: replyId,
      role: 'assistant',
      content: answerTo('first').join(''),
      status: 'complete',
    });
    expect(fake.requests).toHaveLength(2);
    // The member who came back sees the end of it.
    await vi.waitFor(() => expect(after.of('chat:done')).toHaveLength(1), WAIT);
    expect(after.of('chat:done')[0]).toMatchObject({ messageId: replyId });
    expect(answerTo('first').join('').endsWith(after.tokens(replyId).join(''))).toBe(true);
  });
});
