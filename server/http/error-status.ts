import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { CoachErrorCode } from '../../shared/coach.ts';
import type { DomainError, ERROR_CODES } from '../../shared/errors.ts';
import type { BILLING_ERROR_CODES } from '../billing/billing-errors.ts';
import { RangeNotSatisfiableError } from '../storage/index.ts';

/** How one error code is answered over HTTP. */
interface HttpErrorMapping {
  status: ContentfulStatusCode;
  /** Headers the answer needs besides `Retry-After` (which comes from `retryAfterSeconds`). */
  headers?: (error: DomainError) => Record<string, string> | undefined;
}

type BillingErrorCode = (typeof BILLING_ERROR_CODES)[keyof typeof BILLING_ERROR_CODES];
/** Coach codes a request can get; the others only travel in `chat:error`. */
type CoachRequestErrorCode = Extract<
  CoachErrorCode,
  'daily_limit_reached' | 'spend_cap_reached' | 'unknown_template'
>;

type RequiredCode = (typeof ERROR_CODES)[number] | BillingErrorCode | CoachRequestErrorCode;

/**
 * The one table from a domain error's code to its HTTP status. Every code of the contract
 * (`ERROR_CODES`), of billing and of the coach's requests must be here (the type checks it);
 * a code missing at run time answers 500 and is logged.
 */
const HTTP_ERRORS: Record<RequiredCode, HttpErrorMapping> &
  Partial<Record<string, HttpErrorMapping>> = {
  validation_failed: { status: 400 },
  malformed_json: { status: 400 },
  bad_request: { status: 400 },
  unknown_template: { status: 400 },
  invalid_signature: { status: 400 },
  invalid_state: { status: 400 },
  youtube_no_channel: { status: 400 },
  unauthorized: { status: 401 },
  invalid_credentials: { status: 401 },
  token_reused: { status: 401 },
  insufficient_credits: { status: 402 },
  forbidden: { status: 403 },
  not_found: { status: 404 },
  conflict: { status: 409 },
  email_taken: { status: 409 },
  already_member: { status: 409 },
  already_invited: { status: 409 },
  last_owner: { status: 409 },
  renders_in_progress: { status: 409 },
  render_not_ready: { status: 409 },
  payments_configured: { status: 409 },
  idempotency_conflict: { status: 409 },
  already_subscribed: { status: 409 },
  // The body may be unread (refused by its Content-Length or cut off at the limit), so the
  // connection cannot carry another request.
  payload_too_large: { status: 413, headers: () => ({ Connection: 'close' }) },
  unsupported_media_type: { status: 415 },
  range_not_satisfiable: {
    status: 416,
    headers: (error) =>
      error instanceof RangeNotSatisfiableError
        ? { 'Content-Range': `bytes */${error.size}` }
        : undefined,
  },
  rate_limited: { status: 429 },
  daily_limit_reached: { status: 429 },
  youtube_quota_exhausted: { status: 429 },
  youtube_upload_limit: { status: 429 },
  internal_error: { status: 500 },
  payment_provider_error: { status: 502 },
  google_error: { status: 502 },
  service_unavailable: { status: 503 },
  spend_cap_reached: { status: 503 },
};

/** The status and headers a domain error is answered with; `undefined` status for an unmapped code. */
export function httpErrorOf(error: DomainError): {
  status: ContentfulStatusCode | undefined;
  headers: Record<string, string>;
} {
  const mapping = HTTP_ERRORS[error.code];
  const headers = { ...mapping?.headers?.(error) };
  if (error.retryAfterSeconds !== undefined) {
    headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  }
  return { status: mapping?.status, headers };
}
