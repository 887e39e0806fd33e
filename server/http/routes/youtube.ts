import { createRoute, z } from '@hono/zod-openapi';
import {
  youtubeCallbackQuerySchema,
  youtubeChannelSchema,
  youtubeQuotaPoolSchema,
  youtubeWorkspaceSchema,
} from '../../../shared/youtube.ts';
import { DomainError } from '../../errors.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const tags = ['YouTube'];
const authed = { tags, security: bearerSecurity, middleware: requireAuth };

const connect = createRoute({
  ...authed,
  method: 'post',
  path: '/youtube/connect',
  summary: "Google's consent page for connecting a channel (owners and editors)",
  description:
    'Offline access with `prompt=consent` (a refresh token is always issued), the `youtube.upload` and `youtube.readonly` scopes, and a single-use `state` valid 10 minutes, bound to you and the workspace.',
  request: { body: jsonBody(youtubeWorkspaceSchema) },
  responses: {
    200: json(z.object({ url: z.string() }), 'Where to send the browser'),
    ...commonErrors,
  },
});

const callback = createRoute({
  tags,
  method: 'get',
  path: '/youtube/callback',
  summary: "Google's redirect after consent: stores the channel, then redirects to the web app",
  request: { query: youtubeCallbackQuerySchema },
  responses: { 302: { description: 'To the web app' }, ...commonErrors },
});

const channels = createRoute({
  ...authed,
  method: 'get',
  path: '/youtube/channels',
  summary: "A workspace's connected channels (members)",
  request: { query: youtubeWorkspaceSchema },
  responses: {
    200: json(z.object({ channels: z.array(youtubeChannelSchema) }), 'Channels'),
    ...commonErrors,
  },
});

const disconnect = createRoute({
  ...authed,
  method: 'delete',
  path: '/youtube/channels/{id}',
  summary: 'Revoke the token at Google and forget the channel (owners)',
  request: { params: z.strictObject({ id: z.uuid() }) },
  responses: { 204: { description: 'Disconnected' }, ...commonErrors },
});

const quota = createRoute({
  ...authed,
  method: 'get',
  path: '/youtube/quota',
  summary: 'Quota of every OAuth client (pool) today, reset at midnight Pacific',
  request: { query: youtubeWorkspaceSchema },
  responses: {
    200: json(z.object({ pools: z.array(youtubeQuotaPoolSchema) }), 'Pools'),
    ...commonErrors,
  },
});

export const youtubeRoutes = createRouter()
  .openapi(connect, async (c) => {
    const { workspaceId } = c.req.valid('json');
    return c.json(await c.var.services.youtube.connect(c.var.userId, workspaceId), 200);
  })
  .openapi(callback, async (c) => {
    const query = c.req.valid('query');
    if (!query.code) {
      throw new DomainError(
        'invalid_state',
        `Google did not grant access: ${query.error ?? 'no code'}`,
      );
    }
    await c.var.services.youtube.callback(query.code, query.state);
    return c.redirect(`${c.var.services.youtube.publicUrl}/`, 302);
  })
  .openapi(channels, async (c) => {
    const { workspaceId } = c.req.valid('query');
    return c.json({ channels: await c.var.services.youtube.list(c.var.userId, workspaceId) }, 200);
  })
  .openapi(disconnect, async (c) => {
    await c.var.services.youtube.disconnect(c.var.userId, c.req.valid('param').id);
    return c.body(null, 204);
  })
  .openapi(quota, async (c) => {
    const { workspaceId } = c.req.valid('query');
    return c.json(await c.var.services.youtube.quotaFor(c.var.userId, workspaceId), 200);
  });
