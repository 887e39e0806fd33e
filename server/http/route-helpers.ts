import { OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import { errorBodySchema } from '../../shared/errors.ts';
import type { AppEnv } from './app-env.ts';
import { validationHook } from './validation.ts';

/** A sub-app whose validators all report errors the same way. */
export const createRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/** A JSON response description. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

const error = (description: string) => json(errorBodySchema, description);

/** The error responses most routes can give, for the OpenAPI document. */
export const commonErrors = {
  400: error('Invalid input; the message names the field'),
  401: error('Missing, invalid or expired access token'),
  403: error('Your role does not allow this'),
  404: error('Not found, or not in one of your workspaces'),
  413: error('Body over 1 MiB'),
  415: error('Body is not JSON'),
} as const;

export const bearerSecurity = [{ bearerAuth: [] }];
