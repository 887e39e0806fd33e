import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../../shared/coach.ts';
import {
  type CoachNode,
  chatSend,
  replyEnd,
  startCoachNode,
  WAIT,
} from './support/coach-fixture.ts';
import { FakeLlmServer, type FakeReply } from './support/fake-llm-server.ts';

/** Replies are scripted by the first word of the member's message. */
function scripted(request: { body: Record<string, unknown> }): FakeReply {
  const messages = request.body.messages as Array<{ role: string; content: string }>;
  const last = messages.at(-1)?.content ?? '';
  if (last.includes('BREAK')) {
    return { tokens: ['Partial ', 'answer ', 'before ', 'the ', 'cut'], breakAfter: 3 };
  }
  if (last.includes('SLOW')) {
    return { tokens: Array.from({ length: 15 }, (_, i) => `s${i} `), delayMs: 5 };
  }
  return {
    tokens: Array.from({ length: 120 }, (_, i) => `w${i} `),
    usage: { inputTokens: 500, outputTokens: 120 },
  };
}

describe.each(['openai', 'anthropic'] as const)('coach chat in the room (%s)', (format) => {
  let fake: FakeLlmServer;
  let node: CoachNode;

  beforeAll(async () => {
    fake = await FakeLlmServer.start(format, { reply: scripted });
    node = await startCoachNode({
      provider: format,
      [format]: { apiKey: 'test-key', baseUrl: fake.baseUrl },
      maxRetries: 0,
    });
  });

  afterAll(async () => {
    await node?.close();
    await fake?.close();
  });

  it('streams every token in order to two members; the stored reply is their concatenation', async () => {
    const owner = await node.signup('Ada');
    const editor = await node.signup('Grace');
    const { projectId, workspaceId } = await node.project(owner);
    await node.addMember(owner, workspaceId, editor, 'editor');
    const a = await node.connect(owner, projectId);
    const b = await node.connect(editor, projectId);

    const ack = await chatSend(a, projectId, 'How do we get our first 100 members?');
    expect(ack).toMatchObject({ messageId: expect.any(String) });
    const messageId = (ack as { messageId: string }).messageId;

    // Both get the member's stored message, with the id the reply streams under.
    await vi.waitFor(() => {
      expect(a.of('chat:message')).toHaveLength(1);
      expect(b.of('chat:message')).toHaveLength(1);
    }, WAIT);
    const message = b.of('chat:message')[0]!.message as Record<string, unknown>;
    expect(message).toMatchObject({ id: messageId, role: 'user', authorName: 'Ada' });
    const replyId = message.replyId as string;

    const endA = await replyEnd(a, replyId);
    const endB = await replyEnd(b, replyId);
    expect(endA.event).toBe('chat:done');
    expect(endB.payload).toEqual(endA.payload);
    // Deltas that arrive in one network read may travel as one chat:token; every token is
    // there, in order, and both members got the same events.
    const expected = Array.from({ length: 120 }, (_, i) => `w${i} `).join('');
    expect(a.tokens(replyId).join('')).toBe(expected);
    expect(b.tokens(replyId)).toEqual(a.tokens(replyId));
    // Tokens all arrive before chat:done.
    const doneIndex = b.events.findIndex((e) => e.event === 'chat:done');
    const lastToken = b.events.findLastIndex((e) => e.event === 'chat:token');
    expect(lastToken).toBeLessThan(doneIndex);
    expect(endA.payload.usage).toEqual({ inputTokens: 500, outputTokens: 120 });
    const price = format === 'openai' ? [2.5, 10] : [3, 15];
    const cost = (500 * price[0]! + 120 * price[1]!) / 1e6;
    expect(endA.payload.costUsd).toBeCloseTo(cost, 9);

    const response = await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
      token: editor.accessToken,
    });
    const { messages } = (await response.json()) as { messages: ChatMessage[] };
    expect(messages.map((m) => m.role)).toEqual(['assistant', 'user']);
    expect(messages[0]).toMatchObject({
      id: replyId,
      content: b.tokens(replyId).join(''),
      status: 'complete',
      replyTo: messageId,
      userId: owner.user.id,
      provider: format,
      offline: false,
      usage: { inputTokens: 500, outputTokens: 120 },
    });
    expect(messages[0]!.costUsd).toBeCloseTo(cost, 9);
  });

  it('sends the profile, the plan summary, the script excerpt and the recent history as context', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    await node.request('/api/v1/coach/profile', {
      method: 'PUT',
      token: owner.accessToken,
      json: {
        platforms: ['YouTube'],
        audienceSize: 12000,
        niche: 'video editing',
        goals: ['$2k/month'],
        budgetUsd: 200,
      },
    });
    await node.request(`/api/v1/projects/${projectId}/plan`, {
      method: 'POST',
      token: owner.accessToken,
      json: { templateId: 'premium-community' },
    });
    await node.services.realtime.editDocument(`project/${projectId}/script`, (doc) =>
      doc.getText('script').insert(0, 'INTRO: editing tricks nobody tells you'),
    );
    const client = await node.connect(owner, projectId);
    const before = fake.requests.length;
    await chatSend(client, projectId, 'First question');
    await replyEnd(client);
    await chatSend(client, projectId, 'Second question');
    await vi.waitFor(() => expect(fake.requests.length).toBe(before + 2), WAIT);
    const body = fake.requests.at(-1)!.body;
    const system =
      format === 'openai'
        ? (body.messages as Array<{ role: string; content: string }>)[0]!.content
        : (body.system as string);
    expect(system).toContain('Niche: video editing');
    expect(system).toContain('Launch a premium community: 0 of 17 tasks done');
    expect(system).toContain('INTRO: editing tricks nobody tells you');
    const conversation = (body.messages as Array<{ role: string; content: string }>).filter(
      (m) => m.role !== 'system',
    );
    expect(conversation.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(conversation[0]!.content).toBe('Ada: First question');
    expect(conversation[2]!.content).toBe('Ada: Second question');
    await replyEnd(client, undefined);
  });

  it('a stream broken mid-way gives chat:error and keeps the partial reply marked incomplete', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    const client = await node.connect(owner, projectId);
    await chatSend(client, projectId, 'BREAK please');
    const end = await replyEnd(client);
    expect(end.event).toBe('chat:error');
    expect(end.payload.error).toMatchObject({ code: 'provider_failed' });
    const replyId = end.payload.messageId as string;
    expect(client.tokens(replyId).join('')).toBe('Partial answer before ');
    const response = await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
      token: owner.accessToken,
    });
    const { messages } = (await response.json()) as { messages: ChatMessage[] };
    expect(messages[0]).toMatchObject({
      id: replyId,
      role: 'assistant',
      status: 'incomplete',
      content: 'Partial answer before ',
    });
  });

  it('one reply streams per project at a time; messages sent meanwhile wait their turn in order', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    const client = await node.connect(owner, projectId);
    const acks = await Promise.all([
      chatSend(client, projectId, 'SLOW one'),
      chatSend(client, projectId, 'SLOW two'),
      chatSend(client, projectId, 'SLOW three'),
    ]);
    for (const ack of acks) expect(ack).toHaveProperty('messageId');
    await vi.waitFor(() => expect(client.of('chat:done')).toHaveLength(3), WAIT);
    const replyIds = client
      .of('chat:message')
      .map((event) => (event.message as { replyId: string }).replyId);
    // The reply stream: all of reply 1, done, all of reply 2, done, ... never interleaved.
    const sequence = client.events
      .filter((e) => e.event === 'chat:token' || e.event === 'chat:done')
      .map((e) => `${e.event === 'chat:done' ? 'done' : 'token'}:${e.payload.messageId}`);
    const collapsed = sequence.filter((entry, i) => entry !== sequence[i - 1]);
    expect(collapsed).toEqual(replyIds.flatMap((id) => [`token:${id}`, `done:${id}`]));
  });

  it('POST /projects/:id/chat works without a socket; the chat pages with a cursor', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    const watcher = await node.connect(owner, projectId);
    const response = await node.request(`/api/v1/projects/${projectId}/chat`, {
      method: 'POST',
      token: owner.accessToken,
      json: { content: 'Hello over REST' },
    });
    expect(response.status).toBe(202);
    const { message, replyId } = (await response.json()) as {
      message: { id: string; content: string };
      replyId: string;
    };
    expect(message.content).toBe('Hello over REST');
    expect((await replyEnd(watcher, replyId)).event).toBe('chat:done');

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=1&cursor=${cursor}` : '?limit=1';
      const page = (await (
        await node.request(`/api/v1/projects/${projectId}/chat/messages${query}`, {
          token: owner.accessToken,
        })
      ).json()) as { messages: Array<{ id: string }>; nextCursor: string | null };
      pages.push(page.messages.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toEqual([[replyId], [message.id]]);

    const bad = await node.request(`/api/v1/projects/${projectId}/chat`, {
      method: 'POST',
      token: owner.accessToken,
      json: { content: '' },
    });
    expect(bad.status).toBe(400);
    const stranger = await node.signup('Eve');
    const hidden = await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
      token: stranger.accessToken,
    });
    expect(hidden.status).toBe(404);
  });
});

describe('rate-limit fallback in the room', () => {
  let fake: FakeLlmServer;
  let node: CoachNode;

  beforeAll(async () => {
    fake = await FakeLlmServer.start('openai', {
      reply: (request) =>
        request.model === 'gpt-4o'
          ? { tokens: [], status: 429 }
          : {
              tokens: ['From ', 'the ', 'cheaper ', 'model.'],
              usage: { inputTokens: 1000, outputTokens: 4 },
            },
    });
    node = await startCoachNode({
      provider: 'openai',
      openai: { apiKey: 'test-key', baseUrl: fake.baseUrl },
      maxRetries: 1,
    });
  });

  afterAll(async () => {
    await node?.close();
    await fake?.close();
  });

  it('answers with the configured cheaper model and prices the reply at its rate', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    const client = await node.connect(owner, projectId);
    await chatSend(client, projectId, 'Hi');
    const end = await replyEnd(client);
    expect(end.event).toBe('chat:done');
    expect(fake.models).toEqual(['gpt-4o', 'gpt-4o', 'gpt-4o-mini']);
    expect(end.payload.costUsd).toBeCloseTo((1000 * 0.15 + 4 * 0.6) / 1e6, 9);
    const { messages } = (await (
      await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
        token: owner.accessToken,
      })
    ).json()) as { messages: Array<Record<string, unknown>> };
    expect(messages[0]).toMatchObject({ model: 'gpt-4o-mini', content: 'From the cheaper model.' });
    expect(node.logs.some((line) => line.msg === 'coach: rate limited, falling back')).toBe(true);
  });
});
