import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { unauthorized } from '../../errors.ts';
import type { AppEnv } from '../app-env.ts';

/** Compares digests, so neither the token's content nor its length leaks through timing. */
const digest = (value: string) => createHash('sha256').update(value).digest();

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

/**
 * `GET /metrics`: this node's Prometheus metrics (text format 0.0.4). Open when no
 * METRICS_TOKEN is configured; otherwise it requires `Authorization: Bearer <METRICS_TOKEN>`.
 */
export const metricsRoutes = new Hono<AppEnv>().get('/metrics', async (c) => {
  const { metrics, metricsToken } = c.var.services;
  if (metricsToken !== undefined && !bearerMatches(c.req.header('authorization'), metricsToken)) {
    // The challenge is HTTP's business, so the route sets it; the error handler keeps it.
    c.header('WWW-Authenticate', 'Bearer realm="metrics"');
    throw unauthorized('Authorization: expected Bearer <METRICS_TOKEN>');
  }
  return c.body(await metrics.scrape(), 200, {
    'Content-Type': metrics.contentType,
    'Cache-Control': 'no-store',
  });
});
