import { DomainError, type ErrorCode } from '../shared/errors.ts';

export { DomainError } from '../shared/errors.ts';

/**
 * Domain errors for the common refusals. Services throw these (never HTTP errors); the HTTP
 * status of each code is in `http/error-status.ts`, the socket ack is built by the hub.
 */

/** `not_found`: something the request names does not exist, or is hidden from the caller. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

/** `validation_failed`: the input is wrong; `details` lists the problems when there are several. */
export class ValidationError extends DomainError {
  override name = 'ValidationError';
  constructor(message: string, details?: unknown) {
    super('validation_failed', message, { details });
  }
}

/** `rate_limited`: too many attempts; `retryAfterSeconds` says when the next one may pass. */
export class RateLimitedError extends DomainError {
  override name = 'RateLimitedError';
  declare readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('rate_limited', message, { details: { retryAfterSeconds }, retryAfterSeconds });
  }
}

export const notFound = (what: string) => new NotFoundError(what);
export const forbidden = (message: string) => new DomainError('forbidden', message);
export const unauthorized = (message = 'Missing or invalid access token') =>
  new DomainError('unauthorized', message);
/** A refusal because of the current state (`conflict`, `email_taken`, `last_owner`, ...). */
export const conflict = (code: ErrorCode, message: string) => new DomainError(code, message);
export const badRequest = (message: string, details?: unknown) =>
  new ValidationError(message, details);
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new RateLimitedError(message, retryAfterSeconds);
