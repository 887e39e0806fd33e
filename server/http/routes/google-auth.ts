import { createRoute, type z } from '@hono/zod-openapi';
import { sessionSchema } from '../../../shared/accounts.ts';
import { errorBodySchema } from '../../../shared/errors.ts';
import { googleCallbackQuerySchema, googleExchangeBodySchema } from '../../../shared/youtube.ts';
import type { GoogleSignIn } from '../../auth/google-sign-in.ts';
import { DomainError } from '../../errors.ts';
import type { Services } from '../../services.ts';
import { commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const tags = ['Auth'];

const start = createRoute({
  tags,
  method: 'get',
  path: '/auth/google/start',
  summary: "Sign in with Google: redirects (302) to Google's consent page",
  description: 'Scopes `openid email profile`, a single-use `state` and PKCE (S256).',
  responses: { 302: { description: "To Google's consent page" }, ...commonErrors },
});

const callback = createRoute({
  tags,
  method: 'get',
  path: '/auth/google/callback',
  summary: "Google's redirect: signs the user in, then 302 to the web app with `#loginCode=`",
  request: { query: googleCallbackQuerySchema },
  responses: { 302: { description: 'To the web app' }, ...commonErrors },
});

const exchange = createRoute({
  tags,
  method: 'post',
  path: '/auth/google/exchange',
  summary: 'Trade the single-use `loginCode` (valid 60 s) for the token pair',
  request: { body: jsonBody(googleExchangeBodySchema) },
  responses: {
    ...commonErrors,
    200: json(sessionSchema, 'Signed in'),
    401: json(errorBodySchema, 'Unknown, used or expired loginCode'),
  },
});

function signIn(services: Services): GoogleSignIn {
  if (!services.googleSignIn) {
    throw new DomainError(
      'service_unavailable',
      'Sign in with Google needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET',
    );
  }
  return services.googleSignIn;
}

export const googleAuthRoutes = createRouter()
  .openapi(start, async (c) => c.redirect(await signIn(c.var.services).start(), 302))
  .openapi(callback, async (c) => {
    const query = c.req.valid('query');
    if (!query.code) {
      throw new DomainError(
        'invalid_state',
        `Google did not sign you in: ${query.error ?? 'no code'}`,
      );
    }
    return c.redirect(await signIn(c.var.services).callback(query.code, query.state), 302);
  })
  .openapi(exchange, async (c) => {
    const session = await signIn(c.var.services).exchange(c.req.valid('json').loginCode);
    return c.json(sessionSchema.parse(session) as z.infer<typeof sessionSchema>, 200);
  });
