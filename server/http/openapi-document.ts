import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './app-env.ts';
import { ERROR_EXAMPLES, REQUEST_EXAMPLES, ROUTE_ERROR_EXAMPLES } from './openapi-examples.ts';

export type OpenApiDocument = ReturnType<OpenAPIHono<AppEnv>['getOpenAPI31Document']>;

/** What the document says about the service; paths are relative to its one server, `/api/v1`. */
export const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'Reelroom API',
    version: '1.0.0',
    description:
      'Real-time collaboration for teams that make AI-assisted videos. Errors are ' +
      '`{"error": {"code", "message"}}`. The Socket.IO events and the Yjs documents are ' +
      'described in the AsyncAPI document at `/asyncapi.json` (readable at `/docs/events`).',
  },
  servers: [{ url: '/api/v1' }],
} as const;

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

type MediaType = { schema?: unknown; example?: unknown; examples?: unknown };
type Operation = {
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
};

/**
 * The OpenAPI 3.1 document of `api`, generated from its zod routes, with what the generator
 * cannot know added once here: an example body for each JSON request (`REQUEST_EXAMPLES`, each
 * passing its shared schema) and, for each error answer, the contract's Error schema with an
 * example whose code is the one that status carries. Built once per app: the routes do not
 * change after start-up.
 */
export function buildOpenApiDocument(api: OpenAPIHono<AppEnv>): OpenApiDocument {
  const document = api.getOpenAPI31Document(structuredClone(OPENAPI_INFO) as never);
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method];
      if (operation) describeOperation(`${method} ${path}`, operation);
    }
  }
  return document;
}

function describeOperation(key: string, operation: Operation): void {
  const json = operation.requestBody?.content?.['application/json'];
  const request = REQUEST_EXAMPLES[key];
  if (json && request) json.example = request.example;
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const code = Number(status);
    const body = response.content?.['application/json'];
    if (code < 400 || !body || !isErrorShape(body.schema)) continue;
    // Routes spell their error bodies loosely (`{error: unknown}`); they are all the one Error.
    body.schema = ERROR_REF;
    body.example ??= ROUTE_ERROR_EXAMPLES[`${key} ${status}`] ?? ERROR_EXAMPLES[code];
  }
}

/** The Error component, or an inline object whose one property is `error`. */
function isErrorShape(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  if ((schema as { $ref?: string }).$ref === ERROR_REF.$ref) return true;
  const properties = (schema as { properties?: Record<string, unknown> }).properties;
  return properties !== undefined && Object.keys(properties).join() === 'error';
}
