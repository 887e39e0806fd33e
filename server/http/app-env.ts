import type { Logger } from 'pino';
import type { Services } from '../services.ts';

/** Hono environment: per-request values travel on the context, typed here. */
export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    /** A child logger carrying this request's id on every line. */
    logger: Logger;
    /** Set by `requireAuth`. */
    userId: string;
  };
}
