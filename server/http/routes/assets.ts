import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { assetSchema, MAX_AUDIO_BYTES } from '../../../shared/assets.ts';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { badRequest, DomainError } from '../../errors.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json } from '../route-helpers.ts';

const base = { tags: ['Assets'], security: bearerSecurity };

const tooLarge = () =>
  // The rest of the body is never read, so the connection cannot carry another request.
  new DomainError('payload_too_large', `file: uploads are limited to ${MAX_AUDIO_BYTES} bytes`);

/** Uploads that say they are larger than the largest allowed asset are refused unread. */
const uploadLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (Number(c.req.header('content-length') ?? 0) > MAX_AUDIO_BYTES) throw tooLarge();
  await next();
};

/**
 * The body's bytes, at most `MAX_AUDIO_BYTES` (also when chunked). A body that ends before its
 * Content-Length or its last chunk (the client went away, a proxy cut it) is a 400 naming
 * `file`, not a failed read: nothing has been stored at this point.
 */
async function readBody(c: Context<AppEnv>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const chunk = await reader.read().catch(() => {
      throw badRequest('file: the upload ended before all of it arrived');
    });
    if (chunk.done) break;
    size += chunk.value.byteLength;
    if (size > MAX_AUDIO_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The uploaded file: the `file` field of a `multipart/form-data` body, or the whole body. A
 * multipart body cut short or never closed by its final boundary is a 400 naming `file`.
 */
async function readUpload(c: Context<AppEnv>): Promise<Uint8Array> {
  const contentType = c.req.header('content-type') ?? '';
  const bytes = await readBody(c);
  if (!/^multipart\/form-data/i.test(contentType)) return bytes;
  const form = await new Response(bytes, { headers: { 'content-type': contentType } })
    .formData()
    .catch(() => {
      throw badRequest(
        'file: not a complete multipart/form-data body (cut short, or its closing boundary is missing)',
      );
    });
  const file = form.get('file');
  if (!(file instanceof File)) {
    throw badRequest('file: a form field `file` with the file is required');
  }
  return new Uint8Array(await file.arrayBuffer());
}

const binaryFile = { type: 'string' as const, contentMediaType: 'application/octet-stream' };

/**
 * The upload's body for the OpenAPI document. Plain JSON Schema rather than zod on purpose: a
 * zod schema would make the route parse the form before the size limit and content sniffing
 * of `readUpload` run.
 */
const uploadBody = {
  required: true as const,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object' as const,
        properties: { file: { ...binaryFile, description: 'The image or audio file' } },
        required: ['file'],
      },
      encoding: { file: { contentType: 'image/png, image/jpeg, audio/wav, audio/mpeg' } },
    },
    'application/octet-stream': {
      schema: { ...binaryFile, description: 'The file itself as the body' },
    },
  },
};

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
  request: { params: projectIdParamsSchema, body: uploadBody },
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
    const bytes = await readUpload(c);
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
