import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { assetSchema, MAX_AUDIO_BYTES } from '../../../shared/assets.ts';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { ApiError, badRequest } from '../../errors.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json } from '../route-helpers.ts';

const base = { tags: ['Assets'], security: bearerSecurity };

/** Uploads are refused past the largest allowed asset before they are read into memory. */
const uploadLimit: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: MAX_AUDIO_BYTES,
  onError: () => {
    throw new ApiError(
      413,
      'payload_too_large',
      `file: uploads are limited to ${MAX_AUDIO_BYTES} bytes`,
      undefined,
      { Connection: 'close' },
    );
  },
});

const upload = createRoute({
  ...base,
  middleware: [requireAuth, uploadLimit] as const,
  method: 'post',
  path: '/projects/{id}/assets',
  summary: 'Upload an image (PNG, JPEG) or audio file (WAV, MP3) to a project (editors and owners)',
  description:
    'The body is `multipart/form-data` with the file in a field named `file`, or the raw bytes ' +
    'with any other content type. The type is decided from the content, never from a name. ' +
    'Images up to 10 MiB and 8192 px per side, audio up to 100 MiB.',
  request: { params: projectIdParamsSchema },
  responses: {
    201: json(z.object({ asset: assetSchema }), 'Stored'),
    ...commonErrors,
    413: json(z.object({ error: z.unknown() }), 'File over its size limit'),
    415: json(z.object({ error: z.unknown() }), 'Not a PNG, JPEG, WAV or MP3 file'),
  },
});

const list = createRoute({
  ...base,
  middleware: requireAuth,
  method: 'get',
  path: '/projects/{id}/assets',
  summary: "A project's assets, newest first",
  request: { params: projectIdParamsSchema, query: pageQuerySchema },
  responses: {
    200: json(
      z.object({ assets: z.array(assetSchema), nextCursor: z.string().nullable() }),
      'Assets',
    ),
    ...commonErrors,
  },
});

export const assetRoutes = createRouter()
  .openapi(upload, async (c) => {
    const { project } = await c.var.services.projects.access(
      c.var.userId,
      c.req.valid('param').id,
      'editor',
    );
    let bytes: Uint8Array;
    if (/^multipart\/form-data/i.test(c.req.header('content-type') ?? '')) {
      const form = await c.req.parseBody();
      const file = form.file;
      if (!(file instanceof File))
        throw badRequest('file: a form field `file` with the file is required');
      bytes = new Uint8Array(await file.arrayBuffer());
    } else {
      bytes = new Uint8Array(await c.req.arrayBuffer());
    }
    const asset = await c.var.services.assets.upload({
      projectId: project.id,
      userId: c.var.userId,
      bytes,
    });
    return c.json({ asset }, 201);
  })
  .openapi(list, async (c) => {
    const { project } = await c.var.services.projects.access(c.var.userId, c.req.valid('param').id);
    return c.json(await c.var.services.assets.list(project.id, c.req.valid('query')), 200);
  });

/** Whether a request is an asset upload (exempt from the JSON-only body rules of the API). */
export function isAssetUpload(method: string, path: string): boolean {
  return method === 'POST' && /^\/api\/v1\/projects\/[^/]+\/assets\/?$/.test(path);
}
