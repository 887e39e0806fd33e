import { createRoute, z } from '@hono/zod-openapi';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { projectScriptSchema, yjsDocName } from '../../../shared/yjs-docs.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json } from '../route-helpers.ts';

const get = createRoute({
  tags: ['Projects'],
  security: bearerSecurity,
  middleware: requireAuth,
  method: 'get',
  path: '/projects/{id}/script',
  summary: "The script's current text, read from its Yjs document (any member)",
  description:
    'For clients without Yjs. Live editing goes through the WebSocket at `/yjs/project/{id}/script`.',
  request: { params: projectIdParamsSchema },
  responses: {
    200: json(z.object({ script: projectScriptSchema }), 'The script'),
    ...commonErrors,
  },
});

export const scriptRoutes = createRouter().openapi(get, async (c) => {
  const { id } = c.req.valid('param');
  // Membership first: another workspace's project is a 404 like a missing one.
  await c.var.services.projects.access(c.var.userId, id, 'viewer');
  const text = await c.var.services.realtime.getDocumentText(yjsDocName(id, 'script'));
  return c.json({ script: { projectId: id, text } }, 200);
});
