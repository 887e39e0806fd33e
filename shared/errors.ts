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
  'last_owner',
  'rate_limited',
  'insufficient_credits',
  'renders_in_progress',
  'service_unavailable',
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
