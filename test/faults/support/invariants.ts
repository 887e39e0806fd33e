import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Db } from '../../../server/db/index.ts';
import { tables } from '../../../server/db/index.ts';
import { renderJobs } from '../../../server/db/schema/renders.ts';
import { isFinalJobStatus } from '../../../shared/job-status.ts';
import { expectLedgerConsistent } from '../../billing/support/wallets.ts';

/** The wallet's balance now (0 without a wallet). */
export async function balanceOf(db: Db, workspaceId: string): Promise<number> {
  const [wallet] = await db
    .select({ balance: tables.wallets.balance })
    .from(tables.wallets)
    .where(eq(tables.wallets.workspaceId, workspaceId));
  return wallet?.balance ?? 0;
}

export type RenderRow = typeof renderJobs.$inferSelect;

/**
 * What must hold for a workspace once every render in it has settled, whatever crashed on
 * the way: the ledger sums to the balance; every render is in one final state; each render
 * was charged exactly once, a failed or cancelled one refunded exactly once (in full) and a
 * completed one never; the balance is what it was before the renders, less what the
 * completed ones cost. Returns the rows by id.
 */
export async function expectSettledAndPaidOnce(
  db: Db,
  workspaceId: string,
  balanceBefore: number,
): Promise<Map<string, RenderRow>> {
  const balance = await expectLedgerConsistent(db, workspaceId);
  const rows = await db.select().from(renderJobs).where(eq(renderJobs.workspaceId, workspaceId));
  const entries = await db
    .select()
    .from(tables.creditLedger)
    .where(eq(tables.creditLedger.workspaceId, workspaceId));
  let spent = 0;
  for (const row of rows) {
    expect(isFinalJobStatus(row.status), `render ${row.id} ended ${row.status}`).toBe(true);
    const charges = entries.filter((e) => e.kind === 'charge' && e.reference === row.id);
    const refunds = entries.filter((e) => e.kind === 'refund' && e.reference === row.id);
    expect(charges, `charges of render ${row.id}`).toHaveLength(1);
    const cost = -charges[0]!.amount;
    expect(cost).toBeGreaterThan(0);
    if (row.status === 'completed') {
      expect(refunds, `refunds of completed render ${row.id}`).toHaveLength(0);
      spent += cost;
    } else {
      expect(refunds, `refunds of ${row.status} render ${row.id}`).toHaveLength(1);
      expect(refunds[0]!.amount).toBe(cost);
      expect(refunds[0]!.refundOf).toBe(charges[0]!.id);
    }
  }
  expect(balance, 'balance = before − credits of completed renders').toBe(balanceBefore - spent);
  return new Map(rows.map((row) => [row.id, row]));
}
