import { z } from 'zod';

/** Every error code the API answers with. Clients switch on these, never on messages. */
export const ERROR_CODES = [
  'validation_failed',
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthorized',
  'invalid_credentials',
  'token_reused',
  'forbidden',
  'not_found',
  'conflict',
  'email_taken',
  'already_member',
  'already_invited',
  'last_owner',
  'rate_limited',
  'insufficient_credits',
  'renders_in_progress',
  'invalid_state',
  'service_unavailable',
  'youtube_no_channel',
  'youtube_quota_exhausted',
  'youtube_upload_limit',
  'google_error',
  'internal_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number] | (string & {});

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'validation_failed' }),
      message: z.string().meta({ example: 'email: Invalid email address' }),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** What a {@link DomainError} may carry besides its code and message. */
export interface DomainErrorOptions {
  /** Machine-readable specifics for the client (sent as `error.details`). */
  details?: unknown;
  /** When trying again may succeed, in seconds; HTTP sends it as `Retry-After`. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/**
 * A refusal the client caused or must know about, with one of the contract's codes. Services
 * throw it; it knows no transport (no HTTP status, no headers): the API's error handler picks
 * the status from the code, and the socket hub answers an ack with `{error: {code, message}}`,
 * each in one place. Any other error reaches clients as an internal error without its message.
 */
export class DomainError extends Error {
  override name = 'DomainError';
  readonly code: ErrorCode;
  readonly details?: unknown;
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}
