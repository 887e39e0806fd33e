import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { assetSchema } from '../../../shared/assets.ts';
import { pageQuerySchema } from '../../../shared/pagination.ts';
import {
  createPipelineRunBodySchema,
  grantCreditsBodySchema,
  pipelineRunIdParamsSchema,
  pipelineRunSchema,
  projectCostsSchema,
} from '../../../shared/pipeline.ts';
import { projectIdParamsSchema } from '../../../shared/projects.ts';
import { toTransaction } from '../../billing/billing-service.ts';
import { notFound } from '../../errors.ts';
import { toRunWire } from '../../pipeline/index.ts';
import { toAssetWire } from '../../renders/asset-service.ts';
import { fileResponse } from '../../storage/index.ts';
import type { AppEnv } from '../app-env.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const base = { tags: ['Pipeline'], security: bearerSecurity, middleware: requireAuth };
const runBody = z.object({ run: pipelineRunSchema });
const assetIdParamsSchema = z.strictObject({ id: z.uuid() });

const create = createRoute({
  ...base,
  method: 'post',
  path: '/projects/{id}/pipeline-runs',
  summary: 'Start a pipeline run (editors and owners)',
  description:
    'Answers 202 at once; every step runs as a durable job and reports `pipeline:progress` to the ' +
    'project room. Without `steps`: `script` when the script is empty, then voiceover, thumbnail, render.',
  request: { params: projectIdParamsSchema, body: jsonBody(createPipelineRunBodySchema) },
  responses: { 202: json(runBody, 'Queued'), ...commonErrors },
});

const list = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/pipeline-runs',
  summary: "A project's pipeline runs, newest first",
  request: { params: projectIdParamsSchema, query: pageQuerySchema },
  responses: {
    200: json(
      z.object({ runs: z.array(pipelineRunSchema), nextCursor: z.string().nullable() }),
      'Runs',
    ),
    ...commonErrors,
  },
});

const get = createRoute({
  ...base,
  method: 'get',
  path: '/pipeline-runs/{id}',
  summary: 'One pipeline run with its steps and artifacts',
  request: { params: pipelineRunIdParamsSchema },
  responses: { 200: json(runBody, 'The run'), ...commonErrors },
});

const cancel = createRoute({
  ...base,
  method: 'post',
  path: '/pipeline-runs/{id}/cancel',
  summary: 'Cancel a run (editors and owners); the running step stops and is refunded',
  request: { params: pipelineRunIdParamsSchema },
  responses: { 200: json(runBody, 'The run'), ...commonErrors },
});

const retry = createRoute({
  ...base,
  method: 'post',
  path: '/pipeline-runs/{id}/retry',
  summary: 'Resume a failed or cancelled run from its first step that did not complete',
  request: { params: pipelineRunIdParamsSchema },
  responses: {
    202: json(runBody, 'Queued again'),
    409: json(z.object({ error: z.unknown() }), 'The run is not failed or cancelled'),
    ...commonErrors,
  },
});

const costs = createRoute({
  ...base,
  method: 'get',
  path: '/projects/{id}/costs',
  summary: "Provider spend of the project's pipeline runs, by step and by member",
  request: { params: projectIdParamsSchema },
  responses: { 200: json(z.object({ costs: projectCostsSchema }), 'Costs'), ...commonErrors },
});

const getAsset = createRoute({
  ...base,
  method: 'get',
  path: '/assets/{id}',
  summary: 'One asset of a project (members)',
  request: { params: assetIdParamsSchema },
  responses: { 200: json(z.object({ asset: assetSchema }), 'The asset'), ...commonErrors },
});

const assetContent = createRoute({
  ...base,
  method: 'get',
  path: '/assets/{id}/content',
  summary: "An asset's bytes (members; HTTP range requests supported)",
  request: { params: assetIdParamsSchema },
  responses: {
    200: {
      description: 'The file',
      content: { 'application/octet-stream': { schema: z.string() } },
    },
    206: {
      description: 'A byte range',
      content: { 'application/octet-stream': { schema: z.string() } },
    },
    ...commonErrors,
  },
});

const grant = createRoute({
  ...base,
  method: 'post',
  path: '/billing/grants',
  summary: 'Add credits to a workspace (owners; only while payments are not configured)',
  request: { body: jsonBody(grantCreditsBodySchema) },
  responses: {
    201: json(z.object({ balance: z.number(), transaction: z.unknown() }), 'Granted'),
    409: json(z.object({ error: z.unknown() }), 'Payments are configured'),
    ...commonErrors,
  },
});

/** The run, if the caller may see it (`minimum` role in its workspace); another workspace's is a 404. */
async function accessRun(c: Context<AppEnv>, runId: string, minimum: 'viewer' | 'editor') {
  const found = await c.var.services.pipeline.get(runId);
  if (!found) throw notFound('Pipeline run');
  await c.var.services.projects.access(c.var.userId, found.run.projectId, minimum);
  return found;
}

async function accessAsset(c: Context<AppEnv>, assetId: string) {
  const asset = await c.var.services.assets.get(assetId);
  if (!asset) throw notFound('Asset');
  await c.var.services.projects.access(c.var.userId, asset.projectId, 'viewer');
  return asset;
}

export const pipelineRoutes = createRouter()
  .openapi(create, async (c) => {
    const { project } = await c.var.services.projects.access(
      c.var.userId,
      c.req.valid('param').id,
      'editor',
    );
    const { run, steps } = await c.var.services.pipeline.create({
      projectId: project.id,
      workspaceId: project.workspaceId,
      userId: c.var.userId,
      body: c.req.valid('json'),
    });
    return c.json({ run: toRunWire(run, steps) }, 202);
  })
  .openapi(list, async (c) => {
    const { project } = await c.var.services.projects.access(c.var.userId, c.req.valid('param').id);
    const result = await c.var.services.pipeline.list(project.id, c.req.valid('query'));
    return c.json(
      {
        runs: result.items.map(({ run, steps }) => toRunWire(run, steps)),
        nextCursor: result.nextCursor,
      },
      200,
    );
  })
  .openapi(get, async (c) => {
    const { run, steps } = await accessRun(c, c.req.valid('param').id, 'viewer');
    return c.json({ run: toRunWire(run, steps) }, 200);
  })
  .openapi(cancel, async (c) => {
    const { run } = await accessRun(c, c.req.valid('param').id, 'editor');
    const now = await c.var.services.pipeline.cancel(run.id);
    if (!now) throw notFound('Pipeline run');
    return c.json({ run: toRunWire(now.run, now.steps) }, 200);
  })
  .openapi(retry, async (c) => {
    const { run } = await accessRun(c, c.req.valid('param').id, 'editor');
    const now = await c.var.services.pipeline.retry(run.id);
    if (!now) throw notFound('Pipeline run');
    return c.json({ run: toRunWire(now.run, now.steps) }, 202);
  })
  .openapi(costs, async (c) => {
    const { project } = await c.var.services.projects.access(c.var.userId, c.req.valid('param').id);
    return c.json({ costs: await c.var.services.pipeline.costs(project.id) }, 200);
  })
  .openapi(getAsset, async (c) => {
    const asset = await accessAsset(c, c.req.valid('param').id);
    return c.json({ asset: toAssetWire(asset) }, 200);
  })
  .openapi(assetContent, async (c) => {
    const asset = await accessAsset(c, c.req.valid('param').id);
    return (await fileResponse(c.var.services.storage, asset.path, {
      contentType: asset.mime,
      range: c.req.header('range'),
      method: c.req.method,
    })) as never;
  })
  .openapi(grant, async (c) => {
    const body = c.req.valid('json');
    const role = await c.var.services.workspaces.roleOf(c.var.userId, body.workspaceId);
    if (!role) throw notFound('Workspace');
    const { entry, balance } = await c.var.services.pipeline.grantCredits({
      workspaceId: body.workspaceId,
      userId: c.var.userId,
      role,
      credits: body.credits,
      reason: body.reason,
    });
    return c.json({ balance, transaction: toTransaction(entry) }, 201);
  });
