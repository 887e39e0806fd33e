import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoachUsage } from '../../shared/coach.ts';
import type { ErrorBody } from '../../shared/errors.ts';
import { type CoachNode, chatSend, replyEnd, startCoachNode } from './support/coach-fixture.ts';
import { FakeLlmServer } from './support/fake-llm-server.ts';

const nextMidnight = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
};

describe.each(['pglite', 'postgres'] as const)('daily message limit (%s)', (database) => {
  let node: CoachNode;

  beforeAll(async () => {
    node = await startCoachNode({ dailyMessageLimit: 2 }, { database });
  });

  afterAll(async () => {
    await node?.close();
  });

  it('refuses a member past the limit with the reset time, over Socket.IO and REST; others may go on', async () => {
    const owner = await node.signup('Ada');
    const editor = await node.signup('Grace');
    const { projectId, workspaceId } = await node.project(owner);
    await node.addMember(owner, workspaceId, editor, 'editor');
    const client = await node.connect(owner, projectId);
    expect(await chatSend(client, projectId, 'one')).toHaveProperty('messageId');
    expect(await chatSend(client, projectId, 'two')).toHaveProperty('messageId');
    const refused = (await chatSend(client, projectId, 'three')) as {
      error: { code: string; message: string };
    };
    const reset = nextMidnight().toISOString();
    expect(refused.error.code).toBe('daily_limit_reached');
    expect(refused.error.message).toContain(reset);

    const rest = await node.request(`/api/v1/projects/${projectId}/chat`, {
      method: 'POST',
      token: owner.accessToken,
      json: { content: 'four' },
    });
    expect(rest.status).toBe(429);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await rest.json()) as { error: { code: string; details: { resetAt: string } } };
    expect(body.error.code).toBe('daily_limit_reached');
    expect(body.error.details.resetAt).toBe(reset);

    // The limit is per member: the editor still has theirs.
    const other = await node.connect(editor, projectId);
    expect(await chatSend(other, projectId, 'my first')).toHaveProperty('messageId');
    // Refused messages were not stored.
    const { messages } = (await (
      await node.request(`/api/v1/projects/${projectId}/chat/messages?limit=100`, {
        token: owner.accessToken,
      })
    ).json()) as { messages: Array<{ role: string; content: string }> };
    expect(
      messages
        .filter((m) => m.role === 'user')
        .map((m) => m.content)
        .sort(),
    ).toEqual(['my first', 'one', 'two']);
  });
});

describe.each(['pglite', 'postgres'] as const)(
  'spend: cost per message, warning log, hard cap, usage report (%s)',
  (database) => {
    let fake: FakeLlmServer;
    let node: CoachNode;

    beforeAll(async () => {
      // Each reply: 10 000 input + 1 000 output tokens on gpt-4o = $0.035.
      fake = await FakeLlmServer.start('openai', {
        reply: () => ({ tokens: ['ok'], usage: { inputTokens: 10_000, outputTokens: 1000 } }),
      });
      node = await startCoachNode(
        {
          provider: 'openai',
          openai: { apiKey: 'test-key', baseUrl: fake.baseUrl },
          spendWarningUsd: 0.05,
          spendCapUsd: 0.1,
        },
        { database },
      );
    });

    afterAll(async () => {
      await node?.close();
      await fake?.close();
    });

    it('attributes cost to the asker, warns past the threshold once, refuses new replies past the cap', async () => {
      const owner = await node.signup('Ada');
      const editor = await node.signup('Grace');
      const { projectId, workspaceId } = await node.project(owner);
      await node.addMember(owner, workspaceId, editor, 'editor');
      const a = await node.connect(owner, projectId);
      const b = await node.connect(editor, projectId);

      await chatSend(a, projectId, 'first');
      expect((await replyEnd(a)).payload.costUsd).toBeCloseTo(0.035, 9);
      expect(node.logs.filter((l) => l.alert === 'coach_daily_spend')).toHaveLength(0);
      await chatSend(b, projectId, 'second');
      await replyEnd(b, (b.of('chat:message').at(-1)!.message as { replyId: string }).replyId);
      // $0.07 > $0.05: one alert line. It is written after chat:done (a read of the day's
      // spend once the reply is stored), so it may follow the event by a moment.
      await expect
        .poll(() => node.logs.filter((l) => l.alert === 'coach_daily_spend').length)
        .toBe(1);
      const alerts = node.logs.filter((l) => l.alert === 'coach_daily_spend');
      expect(alerts[0]).toMatchObject({ level: 40, warningUsd: 0.05 });
      expect(alerts[0]!.spendUsd).toBeCloseTo(0.07, 9);
      await chatSend(a, projectId, 'third');
      await replyEnd(a, (a.of('chat:message').at(-1)!.message as { replyId: string }).replyId);
      expect(node.logs.filter((l) => l.alert === 'coach_daily_spend')).toHaveLength(1);

      // $0.105 >= $0.10: refused, over both transports, with a clear error.
      const refused = (await chatSend(b, projectId, 'fourth')) as {
        error: { code: string; message: string };
      };
      expect(refused.error.code).toBe('spend_cap_reached');
      expect(refused.error.message).toMatch(/spending cap/);
      const rest = await node.request(`/api/v1/projects/${projectId}/chat`, {
        method: 'POST',
        token: owner.accessToken,
        json: { content: 'fifth' },
      });
      expect(rest.status).toBe(503);
      expect(((await rest.json()) as ErrorBody).error.code).toBe('spend_cap_reached');
      expect(fake.requests).toHaveLength(3);

      // Usage for the owner, by member and by day; the editor may not see it.
      const usage = await node.request(`/api/v1/coach/usage?workspaceId=${workspaceId}`, {
        token: owner.accessToken,
      });
      expect(usage.status).toBe(200);
      const report = ((await usage.json()) as { usage: CoachUsage }).usage;
      const byMember = Object.fromEntries(
        report.byMember.map((m) => [
          m.name,
          [m.messages, m.replies, m.inputTokens, m.outputTokens],
        ]),
      );
      expect(byMember).toEqual({ Ada: [2, 2, 20_000, 2000], Grace: [1, 1, 10_000, 1000] });
      expect(report.byMember.find((m) => m.name === 'Ada')?.costUsd).toBeCloseTo(0.07, 9);
      expect(report.byDay).toHaveLength(1);
      expect(report.byDay[0]?.day).toBe(new Date().toISOString().slice(0, 10));
      expect(report.byDay[0]).toMatchObject({ messages: 3, replies: 3 });
      expect(report.total.costUsd).toBeCloseTo(0.105, 9);
      const forbidden = await node.request(`/api/v1/coach/usage?workspaceId=${workspaceId}`, {
        token: editor.accessToken,
      });
      expect(forbidden.status).toBe(403);
    });
  },
);

describe('spend cap reached while replies wait their turn', () => {
  let fake: FakeLlmServer;
  let node: CoachNode;

  beforeAll(async () => {
    fake = await FakeLlmServer.start('openai', {
      reply: () => ({ tokens: ['ok'], usage: { inputTokens: 10_000, outputTokens: 1000 } }),
    });
    node = await startCoachNode({
      provider: 'openai',
      openai: { apiKey: 'test-key', baseUrl: fake.baseUrl },
      spendCapUsd: 0.03,
    });
  });

  afterAll(async () => {
    await node?.close();
    await fake?.close();
  });

  it('a queued reply that would start past the cap ends in chat:error spend_cap_reached', async () => {
    const owner = await node.signup('Ada');
    const { projectId } = await node.project(owner);
    const client = await node.connect(owner, projectId);
    // Both are accepted (nothing spent yet); the first reply ($0.035) passes the cap.
    const acks = await Promise.all([
      chatSend(client, projectId, 'one'),
      chatSend(client, projectId, 'two'),
    ]);
    for (const ack of acks) expect(ack).toHaveProperty('messageId');
    const replyIds = client
      .of('chat:message')
      .map((event) => (event.message as { replyId: string }).replyId);
    expect((await replyEnd(client, replyIds[0])).event).toBe('chat:done');
    const second = await replyEnd(client, replyIds[1]);
    expect(second.event).toBe('chat:error');
    expect(second.payload.error).toMatchObject({ code: 'spend_cap_reached' });
    expect(fake.requests).toHaveLength(1);
  });
});
