import type { ErrorCode } from '../shared/errors.ts';

/** What is read of a failed response: fetch's `Response` and `hono/client`'s both have it. */
export interface ErrorResponse {
  readonly status: number;
  readonly statusText: string;
  text(): Promise<string>;
}

/** A 4xx/5xx answer of the API, carrying the contract's `{error: {code, message, details}}`. */
export class ReelroomApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(status: number, code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ReelroomApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /**
   * Reads an error response (fetch's, or the typed client's); a body that is not the
   * contract's shape still yields an error.
   */
  static async from(response: ErrorResponse): Promise<ReelroomApiError> {
    const text = await response.text();
    try {
      const body = JSON.parse(text) as {
        error?: { code?: string; message?: string; details?: unknown };
      };
      if (body.error?.code) {
        return new ReelroomApiError(
          response.status,
          body.error.code,
          body.error.message ?? body.error.code,
          body.error.details,
        );
      }
    } catch {
      // Not JSON (a proxy's error page, say): fall through with the raw text.
    }
    return new ReelroomApiError(
      response.status,
      'http_error',
      text.slice(0, 200) || response.statusText,
    );
  }
}
