import { randomUUID } from 'node:crypto';
import { and, eq, gte, sql } from 'drizzle-orm';
import type { LedgerKind, Operation } from '../../shared/billing.ts';
import type { Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { insufficientCredits } from './billing-errors.ts';

export type WalletRow = typeof tables.wallets.$inferSelect;
export type LedgerRow = typeof tables.creditLedger.$inferSelect;

/**
 * Locks the workspace's wallet row until the transaction ends, creating it (balance 0) the
 * first time. Every change of a balance happens under this lock, so concurrent charges on
 * several API nodes queue up here in Postgres. Returns null when the workspace does not exist.
 */
export async function lockWallet(
  tx: Tx,
  workspaceId: string,
  now: Date,
): Promise<WalletRow | null> {
  const select = () =>
    tx
      .select()
      .from(tables.wallets)
      .where(eq(tables.wallets.workspaceId, workspaceId))
      .for('update');
  const [row] = await select();
  if (row) return row;
  const [workspace] = await tx
    .select({ id: tables.workspaces.id })
    .from(tables.workspaces)
    .where(eq(tables.workspaces.id, workspaceId));
  if (!workspace) return null;
  // Two first uses may race: one inserts, the other waits on the key and inserts nothing.
  await tx
    .insert(tables.wallets)
    .values({ workspaceId, balance: 0, createdAt: now, updatedAt: now })
    .onConflictDoNothing();
  const [created] = await select();
  return created ?? null;
}

export interface NewEntry {
  kind: LedgerKind;
  /** Positive adds credits, negative spends them; never 0. */
  amount: number;
  userId: string | null;
  idempotencyKey: string;
  description: string;
  operation?: Operation | null;
  units?: number | null;
  reference?: string | null;
  refundOf?: string | null;
}

/**
 * Appends one entry and moves the balance by its amount, in the caller's transaction, on a
 * wallet locked with `lockWallet` (which it updates in place so further entries in the same
 * transaction see the new balance). A spend beyond the balance throws 402: the conditional
 * UPDATE and the CHECK constraint refuse it even if a caller forgot the lock.
 */
export async function appendEntry(
  tx: Tx,
  wallet: WalletRow,
  entry: NewEntry,
  now: Date,
): Promise<LedgerRow> {
  const [updated] = await tx
    .update(tables.wallets)
    .set({ balance: sql`${tables.wallets.balance} + ${entry.amount}`, updatedAt: now })
    .where(
      and(
        eq(tables.wallets.workspaceId, wallet.workspaceId),
        gte(tables.wallets.balance, Math.max(0, -entry.amount)),
      ),
    )
    .returning({ balance: tables.wallets.balance });
  if (!updated) throw insufficientCredits(wallet.balance, -entry.amount);
  const [row] = await tx
    .insert(tables.creditLedger)
    .values({
      id: randomUUID(),
      workspaceId: wallet.workspaceId,
      userId: entry.userId,
      kind: entry.kind,
      amount: entry.amount,
      balanceAfter: updated.balance,
      operation: entry.operation ?? null,
      units: entry.units ?? null,
      reference: entry.reference ?? null,
      idempotencyKey: entry.idempotencyKey,
      refundOf: entry.refundOf ?? null,
      description: entry.description,
      createdAt: now,
    })
    .returning();
  wallet.balance = updated.balance;
  wallet.updatedAt = now;
  return row!;
}

/** The entry a workspace already posted under an idempotency key, if any. */
export async function findEntryByKey(
  tx: Tx,
  workspaceId: string,
  idempotencyKey: string,
): Promise<LedgerRow | undefined> {
  const [row] = await tx
    .select()
    .from(tables.creditLedger)
    .where(
      and(
        eq(tables.creditLedger.workspaceId, workspaceId),
        eq(tables.creditLedger.idempotencyKey, idempotencyKey),
      ),
    );
  return row;
}
