import { createRoute, z } from '@hono/zod-openapi';
import { errorBodySchema } from '../../../shared/errors.ts';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import { projectSchema } from '../../../shared/projects.ts';
import {
  addMemberBodySchema,
  createWorkspaceBodySchema,
  invitationParamsSchema,
  invitationSchema,
  memberParamsSchema,
  memberSchema,
  updateMemberBodySchema,
  workspaceIdParamsSchema,
  workspaceSchema,
} from '../../../shared/workspaces.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const base = { tags: ['Workspaces'], security: bearerSecurity, middleware: requireAuth };
const conflict = json(
  errorBodySchema,
  'Conflicts with the current members (already a member, last owner)',
);

const create = createRoute({
  ...base,
  method: 'post',
  path: '/workspaces',
  summary: 'Create a workspace; you become its owner',
  request: { body: jsonBody(createWorkspaceBodySchema) },
  responses: { 201: json(z.object({ workspace: workspaceSchema }), 'Created'), ...commonErrors },
});

const list = createRoute({
  ...base,
  method: 'get',
  path: '/workspaces',
  summary: 'Workspaces you are a member of, with your role',
  responses: {
    200: json(z.object({ workspaces: z.array(workspaceSchema) }), 'Your workspaces'),
    ...commonErrors,
  },
});

const get = createRoute({
  ...base,
  method: 'get',
  path: '/workspaces/{id}',
  summary: 'One workspace',
  request: { params: workspaceIdParamsSchema },
  responses: {
    200: json(z.object({ workspace: workspaceSchema }), 'The workspace'),
    ...commonErrors,
  },
});

const listMembers = createRoute({
  ...base,
  method: 'get',
  path: '/workspaces/{id}/members',
  summary: 'Members and their roles, and the invitations waiting for an account',
  request: { params: workspaceIdParamsSchema },
  responses: {
    200: json(
      z.object({ members: z.array(memberSchema), invitations: z.array(invitationSchema) }),
      'Members and pending invitations',
    ),
    ...commonErrors,
  },
});

const addMember = createRoute({
  ...base,
  method: 'post',
  path: '/workspaces/{id}/members',
  summary:
    'Add someone by email (owners): a user at once, an email without an account as an invitation',
  description:
    'An email with an account becomes a member at once (201 `{member}`). One without an ' +
    'account gets an invitation (202 `{invitation}`) that becomes a membership when that email ' +
    'signs up; owners may revoke it until then. Limited per inviter and per workspace (429).',
  request: { params: workspaceIdParamsSchema, body: jsonBody(addMemberBodySchema) },
  responses: {
    201: json(z.object({ member: memberSchema }), 'Added'),
    202: json(z.object({ invitation: invitationSchema }), 'Invited; joins at signup'),
    409: conflict,
    429: json(errorBodySchema, 'Too many additions by you or to this workspace (Retry-After)'),
    ...commonErrors,
  },
});

const revokeInvitation = createRoute({
  ...base,
  method: 'delete',
  path: '/workspaces/{id}/invitations/{invitationId}',
  summary: 'Revoke an invitation that is still waiting (owners)',
  request: { params: invitationParamsSchema },
  responses: { 204: { description: 'Revoked' }, ...commonErrors },
});

const updateMember = createRoute({
  ...base,
  method: 'patch',
  path: '/workspaces/{id}/members/{userId}',
  summary: "Change a member's role (owners)",
  request: { params: memberParamsSchema, body: jsonBody(updateMemberBodySchema) },
  responses: {
    200: json(z.object({ member: memberSchema }), 'Updated'),
    409: conflict,
    ...commonErrors,
  },
});

const removeMember = createRoute({
  ...base,
  method: 'delete',
  path: '/workspaces/{id}/members/{userId}',
  summary: 'Remove a member (owners), or leave (yourself)',
  request: { params: memberParamsSchema },
  responses: { 204: { description: 'Removed' }, 409: conflict, ...commonErrors },
});

const listProjects = createRoute({
  ...base,
  method: 'get',
  path: '/workspaces/{id}/projects',
  summary: "The workspace's projects, newest first",
  request: { params: workspaceIdParamsSchema, query: pageQuerySchema },
  responses: {
    200: json(
      z.object({ projects: z.array(projectSchema), nextCursor: z.string().nullable() }),
      'A page of projects',
    ),
    ...commonErrors,
  },
});

export const workspaceRoutes = createRouter()
  .openapi(create, async (c) => {
    const workspace = await c.var.services.workspaces.createForUser(
      c.var.userId,
      c.req.valid('json').name,
    );
    return c.json({ workspace }, 201);
  })
  .openapi(list, async (c) => {
    const workspaces = await c.var.services.workspaces.listForUser(c.var.userId);
    return c.json({ workspaces }, 200);
  })
  .openapi(get, async (c) => {
    const workspace = await c.var.services.workspaces.get(c.var.userId, c.req.valid('param').id);
    return c.json({ workspace }, 200);
  })
  .openapi(listMembers, async (c) => {
    const roster = await c.var.services.workspaces.listMembers(
      c.var.userId,
      c.req.valid('param').id,
    );
    return c.json(roster, 200);
  })
  .openapi(addMember, async (c) => {
    const { email, role } = c.req.valid('json');
    const added = await c.var.services.workspaces.addMember(
      c.var.userId,
      c.req.valid('param').id,
      email,
      role,
    );
    if ('member' in added) return c.json({ member: added.member }, 201);
    return c.json({ invitation: added.invitation }, 202);
  })
  .openapi(revokeInvitation, async (c) => {
    const { id, invitationId } = c.req.valid('param');
    await c.var.services.workspaces.revokeInvitation(c.var.userId, id, invitationId);
    return c.body(null, 204);
  })
  .openapi(updateMember, async (c) => {
    const { id, userId } = c.req.valid('param');
    const member = await c.var.services.workspaces.updateMember(
      c.var.userId,
      id,
      userId,
      c.req.valid('json').role,
    );
    return c.json({ member }, 200);
  })
  .openapi(removeMember, async (c) => {
    const { id, userId } = c.req.valid('param');
    await c.var.services.workspaces.removeMember(c.var.userId, id, userId);
    return c.body(null, 204);
  })
  .openapi(listProjects, async (c) => {
    const result = await c.var.services.projects.list(
      c.var.userId,
      c.req.valid('param').id,
      c.req.valid('query'),
    );
    return c.json(result, 200);
  });
