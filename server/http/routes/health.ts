import { createRoute, z } from '@hono/zod-openapi';
import { createRouter, json } from '../route-helpers.ts';

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['Operations'],
  summary: 'Liveness: the process answers',
  responses: { 200: json(z.object({ status: z.literal('ok') }), 'Alive') },
});

const readinessBody = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
});

const ready = createRoute({
  method: 'get',
  path: '/ready',
  tags: ['Operations'],
  summary: 'Readiness: the database and the queue answer',
  responses: {
    200: json(readinessBody, 'Ready'),
    503: json(readinessBody, 'A dependency does not answer'),
  },
});

/** Bounds each check so a hung dependency makes /ready fail fast instead of hanging. */
const withTimeout = (promise: Promise<void>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref(),
    ),
  ]);

export const healthRoutes = createRouter()
  .openapi(health, (c) => c.json({ status: 'ok' as const }, 200))
  .openapi(ready, async (c) => {
    const results = await Promise.all(
      c.get('services').readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), 2000);
          return [name, { ok: true }] as const;
        } catch (error) {
          return [
            name,
            { ok: false, error: error instanceof Error ? error.message : String(error) },
          ] as const;
        }
      }),
    );
    const allOk = results.every(([, result]) => result.ok);
    const body = {
      status: allOk ? ('ready' as const) : ('not_ready' as const),
      checks: Object.fromEntries(results),
    };
    return allOk ? c.json(body, 200) : c.json(body, 503);
  });
