import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/index.ts';
import { dropRedisPrefix } from '../realtime/support/realtime-fixture.ts';
import { openTestPostgres } from '../support/databases.ts';
import { type CoachNode, chatSend, startCoachNode, WAIT } from './support/coach-fixture.ts';
import { FakeLlmServer } from './support/fake-llm-server.ts';

describe('two API nodes (Postgres + Redis): one reply per project across the cluster', () => {
  let database: Database;
  let fake: FakeLlmServer;
  let nodes: CoachNode[] = [];
  const prefix = `test-${randomUUID()}`;

  beforeAll(async () => {
    database = await openTestPostgres();
    fake = await FakeLlmServer.start('openai', {
      reply: () => ({ tokens: Array.from({ length: 30 }, (_, i) => `x${i} `), delayMs: 3 }),
    });
    const coach = {
      provider: 'openai' as const,
      openai: { apiKey: 'test-key', baseUrl: fake.baseUrl },
    };
    nodes = [
      await startCoachNode(coach, { database, redisKeyPrefix: prefix }),
      await startCoachNode(coach, { database, redisKeyPrefix: prefix }),
    ];
  });

  afterAll(async () => {
    for (const node of nodes) await node.close();
    await fake?.close();
    await database?.close();
    await dropRedisPrefix(prefix);
  });

  it('members on different nodes ask at once; the replies stream one after the other to everyone', async () => {
    const [one, two] = nodes as [CoachNode, CoachNode];
    const owner = await one.signup('Ada');
    const editor = await one.signup('Grace');
    const { projectId, workspaceId } = await one.project(owner);
    await one.addMember(owner, workspaceId, editor, 'editor');
    const a = await one.connect(owner, projectId);
    const b = await two.connect(editor, projectId);

    const acks = await Promise.all([
      chatSend(a, projectId, 'from node one'),
      chatSend(b, projectId, 'from node two'),
    ]);
    for (const ack of acks) expect(ack).toHaveProperty('messageId');
    for (const client of [a, b]) {
      await vi.waitFor(() => expect(client.of('chat:done')).toHaveLength(2), WAIT);
    }
    for (const client of [a, b]) {
      const sequence = client.events
        .filter((e) => e.event === 'chat:token' || e.event === 'chat:done')
        .map((e) => `${e.event === 'chat:done' ? 'done' : 'token'}:${e.payload.messageId}`);
      const collapsed = sequence.filter((entry, i) => entry !== sequence[i - 1]);
      // Two replies, each a contiguous run of tokens followed by its done: never interleaved.
      expect(collapsed).toHaveLength(4);
      expect(collapsed[0]!.replace('token:', 'done:')).toBe(collapsed[1]);
      expect(collapsed[2]!.replace('token:', 'done:')).toBe(collapsed[3]);
      const replyId = collapsed[0]!.slice('token:'.length);
      expect(client.tokens(replyId).join('')).toBe(
        Array.from({ length: 30 }, (_, i) => `x${i} `).join(''),
      );
    }
    expect(fake.requests).toHaveLength(2);
    // In the order the questions were accepted (the chat's order), whichever node took them.
    const { messages } = (await (
      await two.request(`/api/v1/projects/${projectId}/chat/messages`, {
        token: editor.accessToken,
      })
    ).json()) as { messages: Array<{ id: string; role: string; status: string }> };
    const replies = messages.reverse().filter((m) => m.role === 'assistant');
    expect(replies.map((m) => m.status)).toEqual(['complete', 'complete']);
    for (const client of [a, b]) {
      expect(client.of('chat:done').map((e) => e.messageId)).toEqual(replies.map((m) => m.id));
    }
  });
});
