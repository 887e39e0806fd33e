import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ErrorBody } from '../../shared/errors.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './app-env.ts';

/** The one place errors become the contract's `{error: {code, message}}` body. */
export const handleError: ErrorHandler<AppEnv> = (error, c) => {
  if (error instanceof ApiError) {
    const body: ErrorBody = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.details !== undefined && { details: error.details }),
      },
    };
    return c.json(body, error.status, error.headers);
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
  (c.var.logger ?? console).error({ err: error }, 'unhandled error');
  return c.json({ error: { code: 'internal_error', message: 'Internal server error' } }, 500);
};

export const handleNotFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(
    { error: { code: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` } },
    404,
  );

/** SQLSTATE 23503 from Postgres or PGlite, also when drizzle wraps it as the cause. */
function isForeignKeyViolation(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 3; depth += 1) {
    if ((e as { code?: unknown }).code === '23503') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
