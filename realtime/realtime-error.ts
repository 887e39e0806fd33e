/** Error codes the hub answers client events with, inside `{error: {code, message}}`. */
export type RealtimeErrorCode =
  | 'invalid_payload'
  | 'forbidden'
  | 'not_joined'
  | 'rate_limited'
  | 'unavailable'
  | 'internal'
  | (string & {});

/**
 * An error whose code and message are meant for the client. Hooks throw it to refuse a request
 * (e.g. `new RealtimeError('limit_reached', 'daily message limit reached')`); any other error
 * reaches the client as `internal` without its message.
 */
export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';
  constructor(
    readonly code: RealtimeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The wire body of an error ack. */
export function toWireError(error: unknown): { code: string; message: string } {
  if (error instanceof RealtimeError || (error as Error | undefined)?.name === 'RealtimeError') {
    const realtime = error as RealtimeError;
    return { code: realtime.code, message: realtime.message };
  }
  return { code: 'internal', message: 'internal error' };
}
