import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { getPath } from 'hono/utils/url';
import { canonicalPath } from '../../shared/ids.ts';
import type { Services } from '../services.ts';
import type { AppEnv } from './app-env.ts';
import { buildAsyncApiDocument } from './asyncapi-document.ts';
import { handleError, handleNotFound } from './error-handler.ts';
import { limitBody, requestContext, requireJsonBody } from './middleware.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi-document.ts';
import { assetRoutes, isAssetUpload } from './routes/assets.ts';
import { authRoutes } from './routes/auth.ts';
import { billingRoutes } from './routes/billing.ts';
import { coachRoutes } from './routes/coach.ts';
import { demoRoutes } from './routes/demo.ts';
import { createDocsRoutes } from './routes/docs.ts';
import { featureRoutes } from './routes/features.ts';
import { googleAuthRoutes } from './routes/google-auth.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { pipelineRoutes } from './routes/pipeline.ts';
import { projectRoutes } from './routes/projects.ts';
import { renderRoutes } from './routes/renders.ts';
import { scriptRoutes } from './routes/script.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import { youtubeRoutes } from './routes/youtube.ts';
import { validationHook } from './validation.ts';

export const API_PREFIX = '/api/v1';

/** Every `/api/v1` route; its type is what `hc<AppType>` in the client SDK reads. */
function createApi() {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
    .route('/', healthRoutes)
    .route('/', featureRoutes)
    .route('/', authRoutes)
    .route('/', workspaceRoutes)
    .route('/', projectRoutes)
    .route('/', billingRoutes)
    .route('/', coachRoutes)
    .route('/', renderRoutes)
    .route('/', pipelineRoutes)
    .route('/', assetRoutes)
    .route('/', scriptRoutes)
    .route('/', youtubeRoutes)
    .route('/', googleAuthRoutes);
}

export type ApiType = ReturnType<typeof createApi>;
/** The API's routes as a type, for `hc<AppType>` in the client SDK (STYLE: HTTP). */
export type AppType = ApiType;

/**
 * The HTTP app: `/api/v1/*` (plus `/health`, `/ready` and `/openapi.json` at the root for
 * load balancers, `/metrics` for Prometheus), `/docs`, the web app at `/` (`/demo` redirects there), one error handler. Tests call
 * `app.request()` on it directly.
 */
export function createApp(services: Services) {
  const api = createApi();
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  // Built on first request, then kept: the routes do not change once the app exists.
  let openapi: OpenApiDocument | undefined;
  let asyncapi: ReturnType<typeof buildAsyncApiDocument> | undefined;
  const docsRoutes = createDocsRoutes({
    openapi: () => (openapi ??= buildOpenApiDocument(api)),
    asyncapi: () => (asyncapi ??= buildAsyncApiDocument()),
  });

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: validationHook,
    // Ids in paths are routed in their canonical spelling (lower case, see canonicalId): a
    // project named in upper case is the same project, its room, documents and files.
    getPath: (request) => canonicalPath(getPath(request)),
  });
  app.use('*', requestContext(services));
  // Browsers on other origins get CORS headers only when CORS_ORIGINS lists their origin.
  if (services.corsOrigins?.length) {
    app.use(`${API_PREFIX}/*`, cors({ origin: services.corsOrigins, maxAge: 600 }));
  }
  // Asset uploads carry files, not JSON; their route sets its own size limit. One plain
  // middleware: hono/combine's except() composed a chain per request, 9% of GET /me's CPU.
  const jsonBodyLimit = limitBody();
  app.use(`${API_PREFIX}/*`, (c, next) =>
    isAssetUpload(c.req.method, c.req.path)
      ? next()
      : jsonBodyLimit(c, async () => {
          await requireJsonBody(c, next);
        }),
  );
  app.route(API_PREFIX, api);
  app.route('/', healthRoutes);
  app.route('/', metricsRoutes);
  app.route('/', docsRoutes);
  app.route('/', demoRoutes);
  app.onError(handleError);
  app.notFound(handleNotFound);
  return app;
}

export type App = ReturnType<typeof createApp>;
