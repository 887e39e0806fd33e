import { createRoute, z } from '@hono/zod-openapi';
import {
  loginBodySchema,
  refreshBodySchema,
  sessionSchema,
  signupBodySchema,
  tokenPairSchema,
  userSchema,
} from '../../../shared/accounts.ts';
import { errorBodySchema } from '../../../shared/errors.ts';
import { clientIp, requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const tag = ['Auth'];

const signup = createRoute({
  method: 'post',
  path: '/auth/signup',
  tags: tag,
  summary: 'Create an account and its first workspace',
  request: { body: jsonBody(signupBodySchema) },
  responses: {
    201: json(sessionSchema, 'Signed up'),
    409: json(errorBodySchema, 'Email already registered'),
    429: json(errorBodySchema, 'Too many signups from this address (Retry-After)'),
    400: commonErrors[400],
  },
});

const login = createRoute({
  method: 'post',
  path: '/auth/login',
  tags: tag,
  summary: 'Log in with email and password',
  request: { body: jsonBody(loginBodySchema) },
  responses: {
    200: json(sessionSchema, 'Logged in'),
    401: json(errorBodySchema, 'Email or password is incorrect (never says which)'),
    429: json(
      errorBodySchema,
      'Too many attempts from this IP, or failures for this email from it (Retry-After)',
    ),
    400: commonErrors[400],
  },
});

const refresh = createRoute({
  method: 'post',
  path: '/auth/refresh',
  tags: tag,
  summary: 'Trade a refresh token for a new pair (the old one is used up)',
  request: { body: jsonBody(refreshBodySchema) },
  responses: {
    200: json(tokenPairSchema, 'New access and refresh token'),
    401: json(
      errorBodySchema,
      'Unknown, expired or reused refresh token (reuse revokes the family)',
    ),
    400: commonErrors[400],
  },
});

const logout = createRoute({
  method: 'post',
  path: '/auth/logout',
  tags: tag,
  summary: 'Revoke the refresh token and every token rotated from the same login',
  request: { body: jsonBody(refreshBodySchema) },
  responses: { 204: { description: 'Logged out' }, 400: commonErrors[400] },
});

const me = createRoute({
  method: 'get',
  path: '/me',
  tags: tag,
  summary: 'The signed-in user',
  security: bearerSecurity,
  middleware: requireAuth,
  responses: { 200: json(z.object({ user: userSchema }), 'The user'), 401: commonErrors[401] },
});

export const authRoutes = createRouter()
  .openapi(signup, async (c) => {
    const session = await c.get('services').accounts.signup(c.req.valid('json'), clientIp(c));
    return c.json(session, 201);
  })
  .openapi(login, async (c) => {
    const session = await c.get('services').accounts.login(c.req.valid('json'), clientIp(c));
    return c.json(session, 200);
  })
  .openapi(refresh, async (c) => {
    const pair = await c.get('services').accounts.refresh(c.req.valid('json').refreshToken);
    return c.json(pair, 200);
  })
  .openapi(logout, async (c) => {
    await c.get('services').accounts.logout(c.req.valid('json').refreshToken);
    return c.body(null, 204);
  })
  .openapi(me, async (c) => {
    const user = await c.get('services').accounts.getUser(c.get('userId'));
    return c.json({ user }, 200);
  });
