import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { Billing, type BillingOptions } from '../../../server/billing/index.ts';
import type { Db } from '../../../server/db/index.ts';
import { tables } from '../../../server/db/index.ts';
import { createLogger } from '../../../server/logger.ts';
import { WorkspaceService } from '../../../server/workspaces/workspace-service.ts';

/** A Billing on `db` with a silent logger; `options` override the rest. */
export function billingOn(db: Db, options: Partial<BillingOptions> = {}): Billing {
  return new Billing({
    db,
    workspaces: new WorkspaceService(db),
    logger: createLogger('silent'),
    ...options,
  });
}

/** A user row and a workspace they own (no signup grant: the wallet starts empty). */
export async function ownerWithWorkspace(db: Db): Promise<{ userId: string; workspaceId: string }> {
  const userId = randomUUID();
  await db.insert(tables.users).values({
    id: userId,
    email: `${userId}@example.test`,
    name: 'Owner',
    passwordHash: 'x',
  });
  const workspace = await new WorkspaceService(db).create(db, userId, 'Team');
  return { userId, workspaceId: workspace.id };
}

/**
 * Asserts the wallet invariants: the balance equals the sum of the entries, every entry's
 * `balance_after` is the running sum in `seq` order, and nothing is negative.
 */
export async function expectLedgerConsistent(db: Db, workspaceId: string): Promise<number> {
  const entries = await db
    .select()
    .from(tables.creditLedger)
    .where(eq(tables.creditLedger.workspaceId, workspaceId))
    .orderBy(tables.creditLedger.seq);
  let running = 0;
  for (const entry of entries) {
    running += entry.amount;
    expect(entry.balanceAfter).toBe(running);
    expect(running).toBeGreaterThanOrEqual(0);
  }
  const [wallet] = await db
    .select({ balance: tables.wallets.balance })
    .from(tables.wallets)
    .where(eq(tables.wallets.workspaceId, workspaceId));
  expect(wallet?.balance ?? 0).toBe(running);
  const [sum] = await db
    .select({ total: sql<string>`coalesce(sum(${tables.creditLedger.amount}), 0)` })
    .from(tables.creditLedger)
    .where(eq(tables.creditLedger.workspaceId, workspaceId));
  expect(Number(sum!.total)).toBe(running);
  return running;
}
