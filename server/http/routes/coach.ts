import { createRoute, z } from '@hono/zod-openapi';
import {
  applyPlanBodySchema,
  chatMessageSchema,
  coachUsageSchema,
  creatorProfileBodySchema,
  creatorProfileSchema,
  decisionSchema,
  planSchema,
  planTemplateSummarySchema,
  sendChatBodySchema,
  setTaskBodySchema,
  taskParamsSchema,
  usageQuerySchema,
} from '../../../shared/coach.ts';
import { errorBodySchema } from '../../../shared/errors.ts';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const base = { tags: ['Coach'], security: bearerSecurity, middleware: requireAuth };
const planBody = z.object({ plan: planSchema });

const getProfile = createRoute({
  ...base,
  method: 'get',
  path: '/coach/profile',
  summary: 'Your creator profile (null until you save one)',
  responses: {
    200: json(z.object({ profile: creatorProfileSchema.nullable() }), 'Your profile'),
    ...commonErrors,
  },
});

const putProfile = createRoute({
  ...base,
  method: 'put',
  path: '/coach/profile',
  summary: 'Save your creator profile: platforms, audience size, niche, goals, budget',
  request: { body: jsonBody(creatorProfileBodySchema) },
  responses: { 200: json(z.object({ profile: creatorProfileSchema }), 'Saved'), ...commonErrors },
});

const listTemplates = createRoute({
  ...base,
  method: 'get',
  path: '/coach/templates',
  summary: 'Plan templates a project can start from',
  responses: {
    200: json(z.object({ templates: z.array(planTemplateSummarySchema) }), 'Templates'),
    ...commonErrors,
  },
});

const usage = createRoute({
  ...base,
  method: 'get',
  path: '/coach/usage',
  summary: "A workspace's coach usage and cost by member and by day (owners)",
  request: { query: usageQuerySchema },
  responses: { 200: json(z.object({ usage: coachUsageSchema }), 'Usage'), ...commonErrors },
});

const sendChat = createRoute({
  ...base,
  method: 'post',
  path: '/projects/{id}/chat',
  summary:
    'Send a message to the project chat; the coach reply streams to the room as chat:token under replyId',
  request: { params: projectIdParamsSchema, body: jsonBody(sendChatBodySchema) },
  responses: {
    202: json(z.object({ message: chatMessageSchema, replyId: z.uuid() }), 'Stored, reply queued'),
    ...commonErrors,
    429: json(errorBodySchema, 'Daily message limit reached (details.resetAt)'),
    503: json(errorBodySchema, "Today's AI spend cap reached"),
  },
});

const listMessages = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/chat/messages',
  summary: 'The project chat, newest first, cursor-paginated',
  request: { params: projectIdParamsSchema, query: pageQuerySchema },
  responses: {
    200: json(
      z.object({ messages: z.array(chatMessageSchema), nextCursor: z.string().nullable() }),
      'A page of messages',
    ),
    ...commonErrors,
  },
});

const listDecisions = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/decisions',
  summary: 'Decisions detected in the chat, oldest first (superseded ones included, marked)',
  request: { params: projectIdParamsSchema },
  responses: {
    200: json(z.object({ decisions: z.array(decisionSchema) }), 'Decisions'),
    ...commonErrors,
  },
});

const getPlan = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/plan',
  summary: 'The project plan (Yjs document project/<id>/plan) with progress from its tasks',
  request: { params: projectIdParamsSchema },
  responses: { 200: json(planBody, 'The plan'), ...commonErrors },
});

const applyPlan = createRoute({
  ...base,
  method: 'post',
  path: '/projects/{id}/plan',
  summary: 'Start the plan from a template (editors); decisions are kept',
  request: { params: projectIdParamsSchema, body: jsonBody(applyPlanBodySchema) },
  responses: { 200: json(planBody, 'The new plan'), ...commonErrors },
});

const setTask = createRoute({
  ...base,
  method: 'patch',
  path: '/projects/{id}/plan/tasks/{taskId}',
  summary: 'Tick or untick a plan task (editors), for clients without a Yjs connection',
  request: { params: taskParamsSchema, body: jsonBody(setTaskBodySchema) },
  responses: { 200: json(planBody, 'The plan'), ...commonErrors },
});

export const coachRoutes = createRouter()
  .openapi(getProfile, async (c) => {
    const profile = await c.var.services.coach.getProfile(c.var.userId);
    return c.json({ profile }, 200);
  })
  .openapi(putProfile, async (c) => {
    const profile = await c.var.services.coach.putProfile(c.var.userId, c.req.valid('json'));
    return c.json({ profile }, 200);
  })
  .openapi(listTemplates, (c) => {
    const templates = c.var.services.coach.templates.list().map((template) => {
      const tasks = template.phases.flatMap((phase) => phase.tasks);
      return {
        id: template.id,
        title: template.title,
        summary: template.summary,
        category: template.category,
        phases: template.phases.length,
        tasks: tasks.length,
        estimateHours: tasks.reduce((total, task) => total + task.estimateHours, 0),
      };
    });
    return c.json({ templates }, 200);
  })
  .openapi(usage, async (c) => {
    const { workspaceId, days } = c.req.valid('query');
    const result = await c.var.services.coach.usage(c.var.userId, workspaceId, days);
    return c.json({ usage: result }, 200);
  })
  .openapi(sendChat, async (c) => {
    const { services, userId } = c.var;
    const { project, role } = await services.projects.access(userId, c.req.valid('param').id);
    const user = await services.accounts.getUser(userId);
    const result = await services.coach.send({
      projectId: project.id,
      workspaceId: project.workspaceId,
      userId,
      authorName: user.name,
      role,
      content: c.req.valid('json').content,
    });
    return c.json(result, 202);
  })
  .openapi(listMessages, async (c) => {
    const { services, userId } = c.var;
    const { project } = await services.projects.access(userId, c.req.valid('param').id);
    return c.json(await services.coach.listMessages(project.id, c.req.valid('query')), 200);
  })
  .openapi(listDecisions, async (c) => {
    const { services, userId } = c.var;
    const { project } = await services.projects.access(userId, c.req.valid('param').id);
    return c.json({ decisions: await services.coach.listDecisions(project.id) }, 200);
  })
  .openapi(getPlan, async (c) => {
    const { services, userId } = c.var;
    const { project } = await services.projects.access(userId, c.req.valid('param').id);
    return c.json({ plan: await services.coach.getPlan(project.id) }, 200);
  })
  .openapi(applyPlan, async (c) => {
    const { services, userId } = c.var;
    const { project } = await services.projects.access(userId, c.req.valid('param').id, 'editor');
    const plan = await services.coach.applyTemplate(project.id, c.req.valid('json').templateId);
    return c.json({ plan }, 200);
  })
  .openapi(setTask, async (c) => {
    const { services, userId } = c.var;
    const { id, taskId } = c.req.valid('param');
    const { project } = await services.projects.access(userId, id, 'editor');
    const plan = await services.coach.setTask(project.id, taskId, c.req.valid('json').done);
    return c.json({ plan }, 200);
  });
