import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
} from 'redis';
import { DomainError, type ErrorBody } from '../../shared/errors.ts';
import type { AppEnv } from './app-env.ts';
import { httpErrorOf } from './error-status.ts';

/** The one place errors become the contract's `{error: {code, message}}` body. */
export const handleError: ErrorHandler<AppEnv> = (error, c) => {
  if (error instanceof DomainError) {
    const { status, headers } = httpErrorOf(error);
    if (status === undefined) {
      (c.var.logger ?? console).error(
        { err: error, code: error.code },
        'domain error code without an HTTP status (add it to http/error-status.ts)',
      );
    }
    const body: ErrorBody = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.details !== undefined && { details: error.details }),
      },
    };
    return c.json(body, status ?? 500, headers);
  }
  if (error instanceof HTTPException) {
    // Hono's own validators throw these, e.g. for malformed JSON.
    const code = /json/i.test(error.message) ? 'malformed_json' : 'bad_request';
    const status = error.status >= 400 && error.status < 500 ? error.status : 400;
    return c.json({ error: { code, message: error.message || 'Bad request' } }, status);
  }
  if (isForeignKeyViolation(error)) {
    // Something the request writes under (a project, a workspace) was deleted by a request
    // that committed first; the caller should look again, not retry blindly.
    return c.json(
      {
        error: {
          code: 'conflict',
          message: 'Something this request refers to was deleted meanwhile; fetch it again',
        },
      },
      409,
    );
  }
  if (isServiceUnreachable(error)) {
    // Redis or Postgres (or another service a request needs) is down: say so at once, and
    // when to retry, instead of a 500 or a request hanging until it is back. Connections
    // reconnect by themselves; nothing here needs a human beyond the outage itself.
    (c.var.logger ?? console).warn({ err: error }, 'a service this request needs is unreachable');
    return c.json(
      {
        error: {
          code: 'service_unavailable',
          message: 'A service this request needs is unreachable; try again shortly',
        },
      },
      503,
      { 'Retry-After': String(UNREACHABLE_RETRY_AFTER_SECONDS) },
    );
  }
  (c.var.logger ?? console).error({ err: error }, 'unhandled error');
  return c.json({ error: { code: 'internal_error', message: 'Internal server error' } }, 500);
};

export const handleNotFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(
    { error: { code: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` } },
    404,
  );

/** What a 503 for an unreachable service tells the client to wait, in seconds. */
const UNREACHABLE_RETRY_AFTER_SECONDS = 5;

/** node-redis's errors for "no connection" (commands refused or lost while disconnected). */
const REDIS_CONNECTION_ERRORS = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
];
/**
 * Codes of a connection that could not be made or was lost: socket errors (node-redis rejects
 * queued commands with them, postgres.js a connection it cannot open) and postgres.js's own.
 */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // postgres.js: the connection dropped under a query (Postgres stopped or crashed), was
  // ended or destroyed, or could not be made in time. The pool reconnects on the next query.
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * SQLSTATEs of a Postgres that is going away or not back yet: class 08 (connection exception)
 * and 57P01-57P03 (admin_shutdown, crash_shutdown, cannot_connect_now: shutting down,
 * restarting after a crash, still recovering). Retrying shortly is the right answer to each;
 * other class 57 codes (query_canceled 57014) are not about the connection.
 */
const RATE_LIMITER_REDIS_NOT_READY = 'Redis connection is not ready';

function isPostgresUnavailable(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code);
}

/** Whether an error means a service the request needs cannot be reached (also as a cause). */
function isServiceUnreachable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 3; depth += 1) {
    if (REDIS_CONNECTION_ERRORS.some((type) => e instanceof type)) return true;
    // rate-limiter-flexible's `rejectIfRedisNotReady` refusal has no class or code of its own.
    if (e instanceof Error && e.message === RATE_LIMITER_REDIS_NOT_READY) return true;
    const { code } = e as { code?: unknown };
    if (typeof code === 'string') {
      if (CONNECTION_ERROR_CODES.has(code) || isPostgresUnavailable(code)) return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** SQLSTATE 23503 from Postgres or PGlite, also when drizzle wraps it as the cause. */
function isForeignKeyViolation(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 3; depth += 1) {
    if ((e as { code?: unknown }).code === '23503') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
