import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorCode } from '../shared/errors.ts';

/**
 * A failure the client caused or must know about. Domain code throws these; the app's one
 * error handler turns them into the contract's `{error: {code, message}}` body.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const unauthorized = (message = 'Missing or invalid access token') =>
  new ApiError(401, 'unauthorized', message);
export const conflict = (code: ErrorCode, message: string) => new ApiError(409, code, message);
export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, 'validation_failed', message, details);
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new ApiError(
    429,
    'rate_limited',
    message,
    { retryAfterSeconds },
    {
      'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    },
  );
