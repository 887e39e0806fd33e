import { DomainError } from '../shared/errors.ts';

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
 * A refusal of the hub itself (`not_joined`, `invalid_payload`, ...), a {@link DomainError}
 * with the hub's codes. Hooks throw any DomainError to refuse a request (e.g. the coach's
 * `daily_limit_reached`); any other error reaches the client as `internal` without its message.
 */
export class RealtimeError extends DomainError {
  override name = 'RealtimeError';
  constructor(code: RealtimeErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * The wire body of an error ack: the one place a thrown error becomes `{code, message}` for a
 * Socket.IO client. Domain errors keep their code and message (the same as over REST).
 */
export function toWireError(error: unknown): { code: string; message: string } {
  if (isClientFacing(error)) return { code: error.code, message: error.message };
  return { code: 'internal', message: 'internal error' };
}

/** Whether an error's code and message are meant for the client (a DomainError). */
export function isClientFacing(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
