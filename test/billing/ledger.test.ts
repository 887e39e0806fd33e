import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Billing, resolveBillingSettings } from '../../server/billing/index.ts';
import type { Database } from '../../server/db/index.ts';
import { tables } from '../../server/db/index.ts';
import { DomainError } from '../../server/errors.ts';
import { databaseBackends } from '../support/databases.ts';
import { billingOn, expectLedgerConsistent, ownerWithWorkspace } from './support/wallets.ts';

/** The database's own message for a query that must fail (drizzle wraps it as `cause`). */
async function databaseError(query: PromiseLike<unknown>): Promise<string> {
  try {
    await query;
  } catch (error) {
    return String((error as { cause?: Error }).cause?.message ?? error);
  }
  throw new Error('the query succeeded');
}

describe.each(databaseBackends)('credit ledger on $name', ({ open }) => {
  let database: Database;
  let billing: Billing;
  let clock = new Date('2026-11-22T08:00:00.000Z');
  beforeAll(async () => {
    database = await open();
    billing = billingOn(database.db, {
      // 100 welcome credits make arithmetic in these tests easy; prices are the SPEC's.
      settings: resolveBillingSettings({ signupCredits: 100 }),
      now: () => clock,
    });
  });
  afterAll(() => database?.close());

  /** A workspace whose wallet got the (100-credit) signup grant. */
  async function fundedWorkspace() {
    const owner = await ownerWithWorkspace(database.db);
    await database.db.transaction((tx) => billing.service.grantSignupCredits(tx, owner));
    return owner;
  }

  it('prices operations as configured: per call, and per started minute', () => {
    const { service } = billing;
    expect(service.quote('script')).toEqual({ credits: 10, units: 1 });
    expect(service.quote('publish', { count: 3 })).toEqual({ credits: 15, units: 3 });
    expect(service.quote('voiceover', { durationSec: 60 })).toEqual({ credits: 15, units: 1 });
    expect(service.quote('voiceover', { durationSec: 61 })).toEqual({ credits: 30, units: 2 });
    expect(service.quote('render', { durationSec: 0.5 })).toEqual({ credits: 40, units: 1 });
    expect(service.quote('render', { durationSec: 150 })).toEqual({ credits: 120, units: 3 });
    expect(() => service.quote('render', {})).toThrow(/durationSec/);
    expect(() => service.quote('script', { count: 0 })).toThrow(/count/);
    const custom = billingOn(database.db, {
      settings: resolveBillingSettings({ prices: { render: { credits: 50 } } }),
    });
    expect(custom.service.quote('render', { durationSec: 90 }).credits).toBe(100);
  });

  it('50 concurrent charges of 10 against 100: exactly 10 succeed and the balance ends at 0', async () => {
    const { userId, workspaceId } = await fundedWorkspace();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        billing.service.charge({
          workspaceId,
          userId,
          operation: 'script',
          reference: `script-${i}`,
          idempotencyKey: `script-${i}`,
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const result of refused) {
      const error = (result as PromiseRejectedResult).reason as DomainError;
      expect(error).toBeInstanceOf(DomainError);
      expect(error.code).toBe('insufficient_credits');
      expect(error.details).toMatchObject({ price: 10, operation: 'script' });
      expect((error.details as { balance: number }).balance).toBeLessThan(10);
    }
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(0);
    expect(await expectLedgerConsistent(database.db, workspaceId)).toBe(0);
  });

  it('a charge is idempotent by key; the same key for something else is a 409', async () => {
    const { userId, workspaceId } = await fundedWorkspace();
    const input = {
      workspaceId,
      userId,
      operation: 'voiceover' as const,
      durationSec: 125,
      reference: 'step-1',
      idempotencyKey: 'voice:step-1',
    };
    const results = await Promise.all(
      Array.from({ length: 5 }, () => billing.service.charge(input)),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.transaction.id)).size).toBe(1);
    expect(results[0]!.transaction).toMatchObject({ amount: -45, units: 3, kind: 'charge' });
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(55);
    await expect(billing.service.charge({ ...input, reference: 'step-2' })).rejects.toMatchObject({
      code: 'idempotency_conflict',
    });
    await expectLedgerConsistent(database.db, workspaceId);
  });

  it('a refund gives the charge back once, even when refunds race', async () => {
    const { userId, workspaceId } = await fundedWorkspace();
    await billing.service.charge({
      workspaceId,
      userId,
      operation: 'render',
      durationSec: 61,
      reference: 'render-a',
      idempotencyKey: 'render:render-a',
    });
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(20);
    const refunds = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        i % 2
          ? billing.service.refund({
              workspaceId,
              chargeIdempotencyKey: 'render:render-a',
              reason: 'failed',
            })
          : billing.service.refundByReference({
              operation: 'render',
              reference: 'render-a',
              reason: 'failed',
            }),
      ),
    );
    expect(refunds.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(refunds[0]!.transaction).toMatchObject({ kind: 'refund', amount: 80 });
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(100);
    // Nothing charged under that key or reference: nothing to refund, no error.
    expect(
      await billing.service.refundByReference({
        operation: 'render',
        reference: 'nope',
        reason: 'x',
      }),
    ).toEqual({ transaction: null, duplicate: false });
    await expectLedgerConsistent(database.db, workspaceId);
  });

  it('a charge of a workspace that does not exist is a 404', async () => {
    await expect(
      billing.service.charge({
        workspaceId: '00000000-0000-4000-8000-000000000000',
        userId: null,
        operation: 'script',
        reference: 'x',
        idempotencyKey: 'x',
      }),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('the ledger is append-only and a balance cannot go negative, whatever the code does', async () => {
    const { workspaceId } = await fundedWorkspace();
    expect(
      await databaseError(database.db.update(tables.creditLedger).set({ amount: 1_000 })),
    ).toMatch(/append-only: UPDATE/);
    expect(
      await databaseError(
        database.db
          .delete(tables.creditLedger)
          .where(eq(tables.creditLedger.workspaceId, workspaceId)),
      ),
    ).toMatch(/append-only: DELETE/);
    expect(
      await databaseError(
        database.db
          .update(tables.wallets)
          .set({ balance: -1 })
          .where(eq(tables.wallets.workspaceId, workspaceId)),
      ),
    ).toMatch(/wallets_balance_non_negative/);
    expect(await expectLedgerConsistent(database.db, workspaceId)).toBe(100);
    // Deleting the workspace still takes its ledger with it.
    await database.db.delete(tables.workspaces).where(eq(tables.workspaces.id, workspaceId));
    expect(
      await database.db.$count(
        tables.creditLedger,
        eq(tables.creditLedger.workspaceId, workspaceId),
      ),
    ).toBe(0);
  });

  it('the daily login bonus comes at most once per rolling 24 h, also when logins race', async () => {
    const { userId, workspaceId } = await fundedWorkspace();
    const race = () =>
      Promise.all(Array.from({ length: 12 }, () => billing.service.grantLoginBonus(userId)));
    const first = await race();
    expect(first.filter((r) => r.granted)).toHaveLength(1);
    expect(first[0]!.workspaceId).toBe(workspaceId);
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(110);

    const start = clock;
    clock = new Date(start.getTime() + 23 * 3600_000 + 59 * 60_000);
    expect((await race()).filter((r) => r.granted)).toHaveLength(0);
    clock = new Date(start.getTime() + 24 * 3600_000);
    expect((await race()).filter((r) => r.granted)).toHaveLength(1);
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(120);
    clock = start;

    const kinds = await database.db
      .select({ kind: tables.creditLedger.kind, n: sql<number>`count(*)::int` })
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.workspaceId, workspaceId))
      .groupBy(tables.creditLedger.kind);
    expect(Object.fromEntries(kinds.map((k) => [k.kind, k.n]))).toEqual({
      signup_bonus: 1,
      daily_bonus: 2,
    });
    await expectLedgerConsistent(database.db, workspaceId);
  });
});
