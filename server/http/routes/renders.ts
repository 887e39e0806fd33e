import { createRoute, z } from '@hono/zod-openapi';
import type { Context, Next } from 'hono';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { renderSchema, submitRenderBodySchema } from '../../../shared/render-spec.ts';
import { badRequest, conflict, forbidden, notFound } from '../../errors.ts';
import type { RenderFileKind } from '../../renders/render-links.ts';
import { toRenderWire } from '../../renders/render-service.ts';
import { fileResponse } from '../../storage/index.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const base = { tags: ['Renders'], security: bearerSecurity, middleware: requireAuth };
const renderBody = z.object({ render: renderSchema });
const renderIdParamsSchema = z.strictObject({ id: z.uuid() });
const binary = (type: string, description: string) => ({
  content: { [type]: { schema: z.string().meta({ format: 'binary' }) } },
  description,
});

const submit = createRoute({
  ...base,
  method: 'post',
  path: '/projects/{id}/renders',
  summary: 'Queue a render of a spec (editors and owners)',
  description:
    'Answers 202 at once; progress arrives as `render:progress` in the project room. A repeated ' +
    '`idempotencyKey` (body, or the `Idempotency-Key` header) returns the first render.',
  request: { params: projectIdParamsSchema, body: jsonBody(submitRenderBodySchema) },
  responses: {
    202: json(renderBody, 'Queued'),
    402: json(z.object({ error: z.unknown() }), 'Not enough credits'),
    ...commonErrors,
  },
});

const list = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/renders',
  summary: "A project's renders, newest first",
  request: { params: projectIdParamsSchema, query: pageQuerySchema },
  responses: {
    200: json(
      z.object({ renders: z.array(renderSchema), nextCursor: z.string().nullable() }),
      'Renders',
    ),
    ...commonErrors,
  },
});

const get = createRoute({
  ...base,
  method: 'get',
  path: '/renders/{id}',
  summary: 'One render: status, progress, error, output links',
  request: { params: renderIdParamsSchema },
  responses: { 200: json(renderBody, 'The render'), ...commonErrors },
});

/**
 * The files open with a Bearer token, or with the signed link a render's `outputUrl` and
 * `thumbnailUrl` carry (`<video>` and `<img>` cannot send headers).
 */
const fileAccess = {
  tags: ['Renders'],
  security: [...bearerSecurity, {}],
  middleware: bearerOrSignedLink,
};
const signedLinkQuerySchema = z.strictObject({
  expires: z.coerce.number().int().positive().optional(),
  signature: z
    .string()
    .regex(/^[\w-]{1,100}$/)
    .optional(),
});

const output = createRoute({
  ...fileAccess,
  method: 'get',
  path: '/renders/{id}/output',
  summary: 'The rendered MP4 (HTTP range requests supported)',
  description:
    "With a Bearer token, or with no header at all through the signed link in the render's `outputUrl` (valid for an hour).",
  request: { params: renderIdParamsSchema, query: signedLinkQuerySchema },
  responses: {
    200: binary('video/mp4', 'The whole MP4'),
    206: binary('video/mp4', 'The requested byte range'),
    409: json(z.object({ error: z.unknown() }), 'The render has not completed'),
    416: json(z.object({ error: z.unknown() }), 'Range outside the file'),
    ...commonErrors,
  },
});

const thumbnail = createRoute({
  ...fileAccess,
  method: 'get',
  path: '/renders/{id}/thumbnail',
  summary: "The render's PNG thumbnail",
  description: "With a Bearer token, or through the signed link in the render's `thumbnailUrl`.",
  request: { params: renderIdParamsSchema, query: signedLinkQuerySchema },
  responses: {
    200: binary('image/png', 'The thumbnail'),
    409: json(z.object({ error: z.unknown() }), 'The render has not completed'),
    ...commonErrors,
  },
});

const cancel = createRoute({
  ...base,
  method: 'post',
  path: '/renders/{id}/cancel',
  summary: 'Cancel a render (editors and owners); a running one stops within a second',
  description: 'Answers with the render as it is now; a finished render is left as it is.',
  request: { params: renderIdParamsSchema },
  responses: { 200: json(renderBody, 'The render'), ...commonErrors },
});

/** The render, if the caller may see it (`minimum` role in its workspace); else a 404/403. */
async function accessRender(c: Context<AppEnv>, renderId: string, minimum: 'viewer' | 'editor') {
  const render = await c.var.services.renders.get(renderId);
  if (!render) throw notFound('Render');
  // Another workspace's render is a 404, exactly like one that does not exist.
  await c.var.services.projects.access(c.var.userId, render.projectId, minimum);
  return render;
}

/** A request with a signed link and no Authorization header is checked by the route. */
async function bearerOrSignedLink(c: Context<AppEnv>, next: Next) {
  if (c.req.header('authorization') === undefined && c.req.query('signature') !== undefined) {
    return next();
  }
  return requireAuth(c, next);
}

/**
 * The render whose file is asked for: through the caller's membership (Bearer), or through
 * a signed link, which is proof enough on its own.
 */
async function renderForFile(
  c: Context<AppEnv>,
  renderId: string,
  kind: RenderFileKind,
  link: { expires?: number | undefined; signature?: string | undefined },
) {
  if (c.var.userId !== undefined) return accessRender(c, renderId, 'viewer');
  if (link.signature === undefined || link.expires === undefined) {
    throw badRequest('expires: required with signature');
  }
  const check = c.var.services.renderLinks.check(renderId, kind, link.expires, link.signature);
  if (check === 'invalid') {
    throw forbidden(`signature: not a valid link to this render's ${kind}`);
  }
  if (check === 'expired') {
    throw forbidden(
      `expires: the link expired at ${new Date(link.expires * 1000).toISOString()}; get the render again for a fresh one`,
    );
  }
  const render = await c.var.services.renders.get(renderId);
  if (!render) throw notFound('Render');
  return render;
}

/**
 * With object storage, a request through a signed link is sent (302) to a presigned URL of the
 * bucket that expires when the link does: the bytes, ranges included, then come from the bucket
 * instead of through this node. The link was checked before (another file, a changed signature
 * and an expired link are refused here, as with the local directory). Null: serve it here.
 */
async function presignedRedirect(
  c: Context<AppEnv>,
  key: string,
  link: { expires?: number | undefined },
  options: { contentType: string; fileName?: string },
): Promise<Response | null> {
  if (c.var.userId !== undefined || link.expires === undefined) return null;
  const url = await c.var.services.storage.signedUrl(key, {
    expiresAt: new Date(link.expires * 1000),
    ...options,
  });
  if (!url) return null;
  return new Response(null, {
    status: 302,
    headers: { Location: url, 'Cache-Control': 'private, no-store' },
  });
}

function completedKey(key: string | null, status: string): string {
  if (status !== 'completed' || !key) {
    throw conflict('render_not_ready', `The render is ${status}, not completed`);
  }
  return key;
}

export const renderRoutes = createRouter()
  .openapi(submit, async (c) => {
    const { project } = await c.var.services.projects.access(
      c.var.userId,
      c.req.valid('param').id,
      'editor',
    );
    const body = c.req.valid('json');
    const idempotencyKey = body.idempotencyKey ?? c.req.header('idempotency-key') ?? undefined;
    if (
      idempotencyKey !== undefined &&
      (idempotencyKey.length === 0 || idempotencyKey.length > 200)
    ) {
      throw badRequest('Idempotency-Key: must be 1-200 characters');
    }
    const { render } = await c.var.services.renders.submit({
      projectId: project.id,
      workspaceId: project.workspaceId,
      spec: body.spec,
      createdBy: c.var.userId,
      idempotencyKey,
    });
    return c.json({ render: toRenderWire(render, c.var.services.renderLinks) }, 202);
  })
  .openapi(list, async (c) => {
    const { project } = await c.var.services.projects.access(c.var.userId, c.req.valid('param').id);
    const result = await c.var.services.renders.list(project.id, c.req.valid('query'));
    const links = c.var.services.renderLinks;
    return c.json(
      {
        renders: result.items.map((row) => toRenderWire(row, links)),
        nextCursor: result.nextCursor,
      },
      200,
    );
  })
  .openapi(get, async (c) => {
    const render = await accessRender(c, c.req.valid('param').id, 'viewer');
    return c.json({ render: toRenderWire(render, c.var.services.renderLinks) }, 200);
  })
  .openapi(output, async (c) => {
    const render = await renderForFile(c, c.req.valid('param').id, 'output', c.req.valid('query'));
    const key = completedKey(render.videoKey, render.status);
    const redirect = await presignedRedirect(c, key, c.req.valid('query'), {
      contentType: 'video/mp4',
      fileName: `render-${render.id}.mp4`,
    });
    if (redirect) return redirect as never;
    return (await fileResponse(c.var.services.storage, key, {
      contentType: 'video/mp4',
      range: c.req.header('range'),
      method: c.req.method,
      fileName: `render-${render.id}.mp4`,
    })) as never;
  })
  .openapi(thumbnail, async (c) => {
    const render = await renderForFile(
      c,
      c.req.valid('param').id,
      'thumbnail',
      c.req.valid('query'),
    );
    const key = completedKey(render.thumbnailKey, render.status);
    const redirect = await presignedRedirect(c, key, c.req.valid('query'), {
      contentType: 'image/png',
    });
    if (redirect) return redirect as never;
    return (await fileResponse(c.var.services.storage, key, {
      contentType: 'image/png',
      method: c.req.method,
    })) as never;
  })
  .openapi(cancel, async (c) => {
    const render = await accessRender(c, c.req.valid('param').id, 'editor');
    const now = await c.var.services.renders.cancel(render.id);
    if (!now) throw notFound('Render');
    return c.json({ render: toRenderWire(now, c.var.services.renderLinks) }, 200);
  });
