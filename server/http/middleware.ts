import { randomBytes } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import { DomainError, unauthorized } from '../errors.ts';
import type { Services } from '../services.ts';
import type { AppEnv } from './app-env.ts';

/** 1 MiB: JSON bodies are small; uploads have their own routes and limits. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/**
 * Our request ids are `<process id>-<counter>`: unique across nodes and restarts (the prefix
 * is 48 random bits per process), sortable within a process, and a counter costs nothing
 * where a UUID per request was a measurable share of a trivial request.
 */
const processRequestPrefix = randomBytes(6).toString('base64url');
let requestCounter = 0;
const nextRequestId = () => `${processRequestPrefix}-${(++requestCounter).toString(36)}`;

/**
 * Probes a load balancer or Prometheus sends every few seconds: their access lines go to
 * `debug` while they succeed, so they neither drown the log nor cost a line each (without
 * it, `/health` went from 50 to 45 µs of CPU per request). Failures are logged like any request.
 */
const PROBE_PATHS = new Set(['/health', '/ready', '/metrics', '/api/v1/health', '/api/v1/ready']);

/** Methods a metric label keeps; anything else a client sends counts as `OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Puts the services, a request id (the caller's `X-Request-Id` when sane) and a logger that
 * carries it on the context, and logs one line and one `http_request_duration_seconds`
 * observation per finished request (succeeding probes log at `debug`). The metric's route is
 * the pattern of the handler that answered (`/api/v1/projects/:id`); a request no route
 * matched has the last middleware's (`/*`, `/api/v1/*`), so the label never holds raw paths.
 */
export function requestContext(services: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : nextRequestId();
    const logger = services.logger.child({ requestId });
    c.set('services', services);
    c.set('requestId', requestId);
    c.set('logger', logger);
    // On the Node server the header goes straight onto the response being written: Hono's
    // c.header() would make a Fetch Headers object for every response, which costs more than
    // the rest of a trivial request together.
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing) outgoing.setHeader('X-Request-Id', requestId);
    else c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    const method = c.req.method;
    const status = c.res.status;
    services.metrics.httpRequestDuration.observe(
      { method: METHODS.has(method) ? method : 'OTHER', route: routePath(c), status },
      ms / 1000,
    );
    const path = c.req.path;
    const level = status < 400 && PROBE_PATHS.has(path) ? 'debug' : 'info';
    logger[level]({ method, path, status, ms: Math.round(ms) }, 'request');
  };
}

/**
 * Bodies over 1 MiB are refused with 413 before they are read into memory. Requests without a
 * body skip the check: it reads `c.req.raw`, which costs a full Fetch Request per request.
 */
export const limitBody = (maxSize = MAX_JSON_BODY_BYTES): MiddlewareHandler<AppEnv> => {
  const limit = bodyLimitOf(maxSize);
  return (c, next) =>
    c.req.header('content-length') === undefined && c.req.header('transfer-encoding') === undefined
      ? next()
      : limit(c, next);
};

const bodyLimitOf = (maxSize: number): MiddlewareHandler<AppEnv> =>
  bodyLimit({
    maxSize,
    onError: () => {
      // The rest of the body is never read, so the connection cannot carry another request.
      throw new DomainError('payload_too_large', `Request body exceeds ${maxSize} bytes`);
    },
  });

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * A body sent to a JSON route must say it is JSON; otherwise the validator would see an empty
 * object and report missing fields, which hides the real mistake.
 */
export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const hasBody =
    c.req.header('content-length') !== undefined && c.req.header('content-length') !== '0';
  const chunked = c.req.header('transfer-encoding') !== undefined;
  if (['POST', 'PUT', 'PATCH'].includes(c.req.method) && (hasBody || chunked)) {
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new DomainError(
        'unsupported_media_type',
        `content-type: expected application/json, got '${mediaType || 'none'}'`,
      );
    }
  }
  await next();
};

/**
 * Requires `Authorization: Bearer <accessToken>` of a user who still exists, and puts the user
 * id on the context. The token alone would outlive a deleted account by up to its 15 minutes;
 * the socket handshake checks the same way.
 */
export const requireAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) throw unauthorized('Authorization: expected a Bearer access token');
  const claims = await c.get('services').accessTokens.verify(match[1]!);
  if (!claims) throw unauthorized('Authorization: access token is invalid or expired');
  if (!(await c.get('services').accounts.exists(claims.userId))) {
    throw unauthorized('Authorization: the account of this access token no longer exists');
  }
  c.set('userId', claims.userId);
  await next();
};

/**
 * The client's address, which the abuse limits count by: the socket peer, or behind a trusted
 * proxy (TRUST_PROXY) the last X-Forwarded-For entry, the one that proxy appended. Entries
 * before it came from the client and could be anything, so they are never used.
 */
export function clientIp(c: Context<AppEnv>): string {
  if (c.get('services').trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // app.request() in tests has no socket.
    return 'local';
  }
}
