import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as Y from 'yjs';
import { OFFLINE_NOTICE } from '../../server/coach/index.ts';
import type { Plan } from '../../shared/coach.ts';
import type { ErrorBody } from '../../shared/errors.ts';
import {
  type CoachNode,
  chatSend,
  replyEnd,
  startCoachNode,
  WAIT,
} from './support/coach-fixture.ts';

/** The decisions array as a stock y-websocket client sees it. */
const decisionsIn = (doc: Y.Doc) =>
  doc
    .getArray<Y.Map<unknown>>('decisions')
    .toArray()
    .map((map) => map.toJSON());

describe.each(['pglite', 'postgres'] as const)(
  'offline coach, plan and decisions, no LLM key (%s)',
  (database) => {
    let node: CoachNode;

    beforeAll(async () => {
      node = await startCoachNode({}, { database });
    });

    afterAll(async () => {
      await node?.close();
    });

    it('lists templates; POST /plan writes the premium-community template into the plan document', async () => {
      const owner = await node.signup('Ada');
      const { projectId, workspaceId } = await node.project(owner);
      const templates = (await (
        await node.request('/api/v1/coach/templates', { token: owner.accessToken })
      ).json()) as { templates: Array<{ id: string; tasks: number }> };
      expect(templates.templates.map((t) => t.id)).toContain('premium-community');

      const watcher = await node.connectPlan(owner, projectId);
      const response = await node.request(`/api/v1/projects/${projectId}/plan`, {
        method: 'POST',
        token: owner.accessToken,
        json: { templateId: 'premium-community' },
      });
      expect(response.status).toBe(200);
      const { plan } = (await response.json()) as { plan: Plan };
      expect(plan.templateId).toBe('premium-community');
      expect(plan.phases).toHaveLength(4);
      expect(plan.progress).toMatchObject({ done: 0, total: 17, ratio: 0 });
      expect(plan.decisionPoints.length).toBeGreaterThanOrEqual(5);
      expect(plan.tips.length).toBeGreaterThan(0);

      // A stock y-websocket client sees the plan arrive live and ticks a task; progress follows.
      await vi.waitFor(() => {
        const phases = watcher.doc.getMap('plan').get('phases') as
          | Y.Array<Y.Map<unknown>>
          | undefined;
        expect(phases?.length).toBe(4);
      }, WAIT);
      const phases = watcher.doc.getMap('plan').get('phases') as Y.Array<Y.Map<unknown>>;
      const tasks = phases.get(0).get('tasks') as Y.Array<Y.Map<unknown>>;
      tasks.get(0).set('done', true);
      tasks.get(1).set('done', true);
      await vi.waitFor(async () => {
        const current = (await (
          await node.request(`/api/v1/projects/${projectId}/plan`, { token: owner.accessToken })
        ).json()) as { plan: Plan };
        expect(current.plan.progress).toMatchObject({ done: 2, total: 17 });
        expect(current.plan.phases[0]?.progress).toMatchObject({ done: 2, total: 5 });
      }, WAIT);

      // The REST way to tick, for clients without Yjs; viewers may not.
      const ticked = await node.request(
        `/api/v1/projects/${projectId}/plan/tasks/choose-platform`,
        {
          method: 'PATCH',
          token: owner.accessToken,
          json: { done: true },
        },
      );
      expect(((await ticked.json()) as { plan: Plan }).plan.progress.done).toBe(3);
      const unknown = await node.request(`/api/v1/projects/${projectId}/plan`, {
        method: 'POST',
        token: owner.accessToken,
        json: { templateId: 'nope' },
      });
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as ErrorBody).error.code).toBe('unknown_template');

      // Viewers read the plan but may not change it.
      const viewer = await node.signup('Vic');
      await node.addMember(owner, workspaceId, viewer, 'viewer');
      const seen = await node.request(`/api/v1/projects/${projectId}/plan`, {
        token: viewer.accessToken,
      });
      expect(seen.status).toBe(200);
      const refused = await node.request(`/api/v1/projects/${projectId}/plan`, {
        method: 'POST',
        token: viewer.accessToken,
        json: { templateId: 'premium-community' },
      });
      expect(refused.status).toBe(403);
      const openapi = (await (await node.request('/api/v1/openapi.json')).json()) as {
        paths: Record<string, unknown>;
      };
      for (const path of [
        '/projects/{id}/chat',
        '/projects/{id}/chat/messages',
        '/projects/{id}/decisions',
        '/projects/{id}/plan',
        '/coach/profile',
        '/coach/usage',
      ]) {
        expect(openapi.paths).toHaveProperty([path]);
      }
    });

    it('a decision in the chat lands in the plan document as a stock y-websocket client reads it; a newer one supersedes it', async () => {
      const owner = await node.signup('Ada');
      const editor = await node.signup('Grace');
      const { projectId, workspaceId } = await node.project(owner);
      await node.addMember(owner, workspaceId, editor, 'editor');
      const reader = await node.connectPlan(editor, projectId);
      const room = await node.connect(editor, projectId);
      const chat = await node.connect(owner, projectId);

      const first = (await chatSend(chat, projectId, "We've decided to charge $15 per month.")) as {
        messageId: string;
      };
      await vi.waitFor(() => expect(decisionsIn(reader.doc)).toHaveLength(1), WAIT);
      expect(decisionsIn(reader.doc)[0]).toMatchObject({
        category: 'pricing',
        confidence: 'high',
        status: 'active',
        decidedBy: owner.user.id,
        decidedByName: 'Ada',
        sourceMessageId: first.messageId,
        statement: "We've decided to charge $15 per month.",
      });
      await vi.waitFor(() => expect(room.of('decision:detected')).toHaveLength(1), WAIT);

      await replyEnd(chat);
      await chatSend(
        chat,
        projectId,
        "Actually let's go with $19 a month because the trial covers the first week.",
      );
      await vi.waitFor(() => expect(decisionsIn(reader.doc)).toHaveLength(2), WAIT);
      await vi.waitFor(() => {
        const [older, newer] = decisionsIn(reader.doc);
        expect(newer).toMatchObject({
          category: 'pricing',
          status: 'active',
          confidence: 'medium',
        });
        expect(older).toMatchObject({ status: 'superseded', supersededBy: newer!.id });
      }, WAIT);
      expect((decisionsIn(reader.doc)[1]!.rationale as string).toLowerCase()).toContain(
        'the trial covers the first week',
      );

      const listed = (await (
        await node.request(`/api/v1/projects/${projectId}/decisions`, { token: editor.accessToken })
      ).json()) as { decisions: Array<Record<string, unknown>> };
      expect(listed.decisions.map((d) => [d.category, d.status])).toEqual([
        ['pricing', 'superseded'],
        ['pricing', 'active'],
      ]);
      expect(room.of('decision:detected').map((e) => (e.decision as { id: string }).id)).toEqual(
        listed.decisions.map((d) => d.id),
      );
    });

    it('a viewer may chat, but nothing a viewer says reaches the plan (editors write, viewers read)', async () => {
      const owner = await node.signup('Ada');
      const viewer = await node.signup('Vic');
      const { projectId, workspaceId } = await node.project(owner);
      await node.addMember(owner, workspaceId, viewer, 'viewer');
      const reader = await node.connectPlan(owner, projectId);
      const room = await node.connect(owner, projectId);
      const chat = await node.connect(viewer, projectId);

      // Over Socket.IO and over REST: stored, answered, but no decision taken from it.
      const ack = (await chatSend(chat, projectId, "We've decided to charge $15 per month.")) as {
        messageId: string;
      };
      expect(ack).toHaveProperty('messageId');
      expect((await replyEnd(chat)).event).toBe('chat:done');
      const rest = await node.request(`/api/v1/projects/${projectId}/chat`, {
        method: 'POST',
        token: viewer.accessToken,
        json: { content: "We're going with Discord." },
      });
      expect(rest.status).toBe(202);
      const { replyId } = (await rest.json()) as { replyId: string };
      expect((await replyEnd(chat, replyId)).event).toBe('chat:done');

      // The same words from an editor do land, so the detector was not what kept them out.
      const fromOwner = (await chatSend(
        room,
        projectId,
        "We've decided to charge $15 per month.",
      )) as {
        messageId: string;
      };
      await vi.waitFor(() => expect(decisionsIn(reader.doc)).toHaveLength(1), WAIT);
      await replyEnd(
        room,
        (room.of('chat:message').at(-1)!.message as { replyId: string }).replyId,
      );
      expect(decisionsIn(reader.doc)[0]).toMatchObject({
        decidedBy: owner.user.id,
        sourceMessageId: fromOwner.messageId,
      });
      const listed = (await (
        await node.request(`/api/v1/projects/${projectId}/decisions`, { token: viewer.accessToken })
      ).json()) as { decisions: Array<Record<string, unknown>> };
      expect(listed.decisions.map((d) => d.sourceMessageId)).toEqual([fromOwner.messageId]);
      expect(room.of('decision:detected')).toHaveLength(1);
      const messages = (await (
        await node.request(`/api/v1/projects/${projectId}/chat/messages?limit=100`, {
          token: viewer.accessToken,
        })
      ).json()) as { messages: Array<{ role: string; status: string }> };
      expect(messages.messages.filter((m) => m.role === 'user')).toHaveLength(3);
      expect(messages.messages.every((m) => m.status === 'complete')).toBe(true);
    });

    it('answers from the plan with no key set, marked offline in metadata and text', async () => {
      const owner = await node.signup('Ada');
      const { projectId } = await node.project(owner);
      await node.request(`/api/v1/projects/${projectId}/plan`, {
        method: 'POST',
        token: owner.accessToken,
        json: { templateId: 'premium-community' },
      });
      const client = await node.connect(owner, projectId);
      await chatSend(client, projectId, "We're going with Discord.");
      const end = await replyEnd(client);
      expect(end.event).toBe('chat:done');
      expect(end.payload).toMatchObject({ usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 });
      const text = client.tokens(end.payload.messageId as string).join('');
      expect(text.startsWith(OFFLINE_NOTICE)).toBe(true);
      expect(text).toContain('Survey your audience');
      expect(text).toContain("platform: We're going with Discord.");
      expect(text).toContain('What does membership cost per month?');
      const { messages } = (await (
        await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
          token: owner.accessToken,
        })
      ).json()) as { messages: Array<Record<string, unknown>> };
      expect(messages[0]).toMatchObject({ offline: true, provider: 'offline', content: text });
    });

    it('keeps a creator profile per user (GET / PUT /coach/profile)', async () => {
      const user = await node.signup('Ada');
      const empty = await node.request('/api/v1/coach/profile', { token: user.accessToken });
      expect(await empty.json()).toEqual({ profile: null });
      const body = {
        platforms: ['YouTube', 'TikTok'],
        audienceSize: 25000,
        niche: 'cooking',
        goals: ['launch a community'],
        budgetUsd: 300,
      };
      const saved = await node.request('/api/v1/coach/profile', {
        method: 'PUT',
        token: user.accessToken,
        json: body,
      });
      expect(saved.status).toBe(200);
      const again = (await (
        await node.request('/api/v1/coach/profile', { token: user.accessToken })
      ).json()) as { profile: Record<string, unknown> };
      expect(again.profile).toMatchObject({ ...body, userId: user.user.id });
      const invalid = await node.request('/api/v1/coach/profile', {
        method: 'PUT',
        token: user.accessToken,
        json: { audienceSize: -3 },
      });
      expect(invalid.status).toBe(400);
      expect(((await invalid.json()) as ErrorBody).error.message).toContain('audienceSize');
    });
  },
);
