import { readFileSync } from 'node:fs';
import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { YoutubeQuotaPool } from '../../shared/youtube.ts';
import { type Db, tables } from '../db/index.ts';
import { DomainError } from '../errors.ts';
import { nextPacificMidnight, pacificDay } from './pacific-day.ts';

const costFileSchema = z.object({
  dailyUnits: z.number().int().positive(),
  dailyUploads: z.number().int().positive(),
  uploadMethods: z.array(z.string()),
  costs: z.record(z.string(), z.number().int().min(0)),
});
export type QuotaCosts = z.infer<typeof costFileSchema>;

/** The costs Google publishes, kept as data (`server/youtube/quota-costs.json`). */
export function loadQuotaCosts(
  file: URL | string = new URL('./quota-costs.json', import.meta.url),
) {
  return costFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** One pool's quota today, in the shape `GET /youtube/quota` answers. */
export type QuotaPool = YoutubeQuotaPool;

/**
 * YouTube quota per OAuth client (Google Cloud project), per Pacific day, in the database so
 * every node sees the same numbers. `videos.insert` spends its own bucket of calls; every
 * other method spends units of the shared pool.
 */
export class YoutubeQuota {
  constructor(
    readonly db: Db,
    readonly clientIds: string[],
    readonly costs: QuotaCosts = loadQuotaCosts(),
    readonly now: () => Date = () => new Date(),
  ) {}

  async pool(clientId: string): Promise<QuotaPool> {
    const now = this.now();
    const [row] = await this.db
      .select()
      .from(tables.youtubeQuotaUsage)
      .where(
        and(
          eq(tables.youtubeQuotaUsage.clientId, clientId),
          eq(tables.youtubeQuotaUsage.day, pacificDay(now)),
        ),
      );
    const usedUnits = row?.usedUnits ?? 0;
    const uploadsUsed = row?.uploadsUsed ?? 0;
    return {
      clientId,
      usedUnits,
      limitUnits: this.costs.dailyUnits,
      uploadsUsed,
      uploadsLimit: this.costs.dailyUploads,
      exhausted:
        (row?.exhaustedUntil != null && row.exhaustedUntil > now) ||
        usedUnits >= this.costs.dailyUnits,
      resetAt: nextPacificMidnight(now).toISOString(),
    };
  }

  pools(): Promise<QuotaPool[]> {
    return Promise.all(this.clientIds.map((id) => this.pool(id)));
  }

  /** The pool with the most room (units left, then uploads left): where a new channel connects. */
  async roomiest(): Promise<string> {
    const pools = await this.pools();
    const room = (p: QuotaPool) =>
      p.exhausted ? -1 : (p.limitUnits - p.usedUnits) * 1000 + (p.uploadsLimit - p.uploadsUsed);
    pools.sort((a, b) => room(b) - room(a));
    const best = pools[0];
    if (!best) throw new DomainError('service_unavailable', 'no Google OAuth client configured');
    return best.clientId;
  }

  /** Refuses, before any call to Google, when the pool cannot pay for all of `methods`. */
  async ensure(clientId: string, methods: string[]): Promise<void> {
    const pool = await this.pool(clientId);
    const units = methods.reduce((n, m) => n + this.#units(m), 0);
    const uploads = methods.filter((m) => this.costs.uploadMethods.includes(m)).length;
    if (
      pool.exhausted ||
      pool.usedUnits + units > pool.limitUnits ||
      pool.uploadsUsed + uploads > pool.uploadsLimit
    ) {
      throw new DomainError(
        'youtube_quota_exhausted',
        `the YouTube quota of OAuth client ${clientId} is used up until ${pool.resetAt}`,
        {
          details: { clientId, resetAt: pool.resetAt },
          retryAfterSeconds: (Date.parse(pool.resetAt) - this.now().getTime()) / 1000,
        },
      );
    }
  }

  /** Records one call to Google (made, whatever its answer: Google counts failed calls too). */
  async spend(clientId: string, method: string): Promise<void> {
    const upload = this.costs.uploadMethods.includes(method) ? 1 : 0;
    const units = upload ? 0 : this.#units(method);
    const t = tables.youtubeQuotaUsage;
    await this.db
      .insert(t)
      .values({ clientId, day: pacificDay(this.now()), usedUnits: units, uploadsUsed: upload })
      .onConflictDoUpdate({
        target: [t.clientId, t.day],
        set: {
          usedUnits: sql`${t.usedUnits} + ${units}`,
          uploadsUsed: sql`${t.uploadsUsed} + ${upload}`,
        },
      });
  }

  /** Google answered `quotaExceeded`: the pool is exhausted until the next Pacific midnight. */
  async markExhausted(clientId: string): Promise<void> {
    const t = tables.youtubeQuotaUsage;
    const until = nextPacificMidnight(this.now());
    await this.db
      .insert(t)
      .values({ clientId, day: pacificDay(this.now()), exhaustedUntil: until })
      .onConflictDoUpdate({ target: [t.clientId, t.day], set: { exhaustedUntil: until } });
  }

  #units(method: string): number {
    if (this.costs.uploadMethods.includes(method)) return 0;
    return this.costs.costs[method] ?? 1;
  }
}
