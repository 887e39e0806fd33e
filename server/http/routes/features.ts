import { createRoute, z } from '@hono/zod-openapi';
import { featuresSchema } from '../../../shared/features.ts';
import { createRouter, json } from '../route-helpers.ts';

const features = createRoute({
  method: 'get',
  path: '/features',
  tags: ['Operations'],
  summary: 'What this server has configured: payments, Sign in with Google, YouTube publishing',
  description:
    'Public, so the sign-in page can offer "Continue with Google" before anyone signs in. ' +
    'Booleans only; nothing secret.',
  responses: { 200: json(z.object({ features: featuresSchema }), 'The configured features') },
});

/** `GET /features`: the web app asks once on load which optional controls to show. */
export const featureRoutes = createRouter().openapi(features, (c) => {
  const { services } = c.var;
  return c.json(
    {
      features: {
        payments: services.billing.checkout.enabled,
        googleSignIn: services.googleSignIn !== undefined,
        youtube: services.youtube.configured,
      },
    },
    200,
  );
});
