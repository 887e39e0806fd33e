import { createRoute, z } from '@hono/zod-openapi';
import { errorBodySchema } from '../../../shared/errors.ts';
import {
  createProjectBodySchema,
  projectIdParamsSchema,
  projectSchema,
  updateProjectBodySchema,
} from '../../../shared/projects.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const base = { tags: ['Projects'], security: bearerSecurity, middleware: requireAuth };
const projectBody = z.object({ project: projectSchema });

const create = createRoute({
  ...base,
  method: 'post',
  path: '/projects',
  summary: 'Create a project in a workspace (editors and owners)',
  request: { body: jsonBody(createProjectBodySchema) },
  responses: { 201: json(projectBody, 'Created'), ...commonErrors },
});

const get = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}',
  summary: 'One project',
  request: { params: projectIdParamsSchema },
  responses: { 200: json(projectBody, 'The project'), ...commonErrors },
});

const update = createRoute({
  ...base,
  method: 'patch',
  path: '/projects/{id}',
  summary: 'Rename a project or change its topic (editors and owners)',
  request: { params: projectIdParamsSchema, body: jsonBody(updateProjectBodySchema) },
  responses: { 200: json(projectBody, 'Updated'), ...commonErrors },
});

const remove = createRoute({
  ...base,
  method: 'delete',
  path: '/projects/{id}',
  summary: 'Delete a project and everything in it (owners)',
  request: { params: projectIdParamsSchema },
  responses: {
    204: { description: 'Deleted' },
    409: json(
      errorBodySchema,
      'A render of the project is still queued or running (renders_in_progress)',
    ),
    ...commonErrors,
  },
});

export const projectRoutes = createRouter()
  .openapi(create, async (c) => {
    const project = await c.var.services.projects.create(c.var.userId, c.req.valid('json'));
    return c.json({ project }, 201);
  })
  .openapi(get, async (c) => {
    const { project } = await c.var.services.projects.access(c.var.userId, c.req.valid('param').id);
    return c.json({ project }, 200);
  })
  .openapi(update, async (c) => {
    const project = await c.var.services.projects.update(
      c.var.userId,
      c.req.valid('param').id,
      c.req.valid('json'),
    );
    return c.json({ project }, 200);
  })
  .openapi(remove, async (c) => {
    await c.var.services.projects.delete(c.var.userId, c.req.valid('param').id);
    return c.body(null, 204);
  });
