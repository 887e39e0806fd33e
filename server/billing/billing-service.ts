import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type {
  BalanceResponse,
  CreditPackage,
  Operation,
  Transaction,
} from '../../shared/billing.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { badRequest, notFound } from '../errors.ts';
import { invalidCursor } from '../pagination.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { idempotencyConflict } from './billing-errors.ts';
import type { BillingSettings } from './billing-settings.ts';
import { appendEntry, findEntryByKey, type LedgerRow, lockWallet } from './ledger.ts';
import { LIVE_SUBSCRIPTION_STATUSES } from './stripe-event-handlers.ts';

export interface BillingServiceOptions {
  db: Db;
  workspaces: WorkspaceService;
  settings: BillingSettings;
  /** The clock; tests move it to cross a bonus interval. Default `() => new Date()`. */
  now?: () => Date;
}

export interface ChargeInput {
  workspaceId: string;
  /** The member who asked for the paid operation. */
  userId: string | null;
  operation: Operation;
  /**
   * For operations priced per started minute: the audio or video length. 61 s is two minutes;
   * anything up to 60 s (including 0) is one.
   */
  durationSec?: number;
  /** For operations priced per call: how many calls. Default 1. */
  count?: number;
  /** What is paid for (a render id, a pipeline step id); kept on the entry. */
  reference: string;
  /**
   * Unique per workspace: a retried charge with the same key posts nothing and returns the
   * first entry; the same key for a different operation, amount or reference is a 409.
   */
  idempotencyKey: string;
  description?: string;
}

export interface ChargeResult {
  transaction: Transaction;
  balance: number;
  /** True when the idempotency key had already been charged: nothing new was posted. */
  duplicate: boolean;
}

export interface RefundResult {
  /** The refund entry, or null when there was nothing to refund (no such charge). */
  transaction: Transaction | null;
  duplicate: boolean;
}

/** The part of a price the caller needs before paying: credits and the units they count. */
export interface Quote {
  credits: number;
  units: number;
}

const MAX_DURATION_SEC = 24 * 3600;
const MAX_COUNT = 10_000;

/**
 * The credit wallets of workspaces: the one place that charges, refunds and grants, and reads
 * balances and history. Every change goes through `ledger.ts` under the wallet's row lock, so
 * a balance equals the sum of its entries and never goes below zero, however many API nodes
 * and workers spend at once.
 */
export class BillingService {
  readonly settings: BillingSettings;
  readonly #db: Db;
  readonly #workspaces: WorkspaceService;
  readonly #now: () => Date;

  constructor(options: BillingServiceOptions) {
    this.#db = options.db;
    this.#workspaces = options.workspaces;
    this.settings = options.settings;
    this.#now = options.now ?? (() => new Date());
  }

  /** One-time packages and monthly plans, as `GET /billing/packages` lists them. */
  listPackages(): CreditPackage[] {
    return [
      ...this.settings.packages.map((item) => ({ ...item, kind: 'one_time' as const })),
      ...this.settings.plans.map((plan) => ({
        id: plan.id,
        name: plan.name,
        credits: plan.monthlyCredits,
        priceUsd: plan.priceUsd,
        kind: 'subscription' as const,
        interval: 'month' as const,
      })),
    ];
  }

  /** The price of an operation at the configured rates. Throws 400 for a nonsensical quantity. */
  quote(operation: Operation, quantity: { durationSec?: number; count?: number } = {}): Quote {
    const price = this.settings.prices[operation];
    let units: number;
    if (price.per === 'started_minute') {
      const seconds = quantity.durationSec;
      if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
        throw badRequest(`durationSec: required and >= 0 for ${operation}`);
      }
      if (seconds > MAX_DURATION_SEC) throw badRequest(`durationSec: at most ${MAX_DURATION_SEC}`);
      units = Math.max(1, Math.ceil(seconds / 60));
    } else {
      units = quantity.count ?? 1;
      if (!Number.isInteger(units) || units < 1 || units > MAX_COUNT) {
        throw badRequest(`count: an integer from 1 to ${MAX_COUNT}`);
      }
    }
    return { credits: price.credits * units, units };
  }

  /**
   * Charges a workspace for a paid operation. Throws 402 (with `balance` and `price`) when the
   * wallet is short, 404 when the workspace does not exist, 409 when the idempotency key was
   * used for something else. A free operation (price 0) posts nothing.
   */
  async charge(input: ChargeInput): Promise<ChargeResult> {
    return this.#db.transaction((tx) => this.chargeIn(tx, input));
  }

  /**
   * {@link charge} inside the caller's transaction, so that what is paid for (a render row,
   * its outbox entry) and the charge commit together or not at all.
   */
  async chargeIn(tx: Tx, input: ChargeInput): Promise<ChargeResult> {
    const { credits, units } = this.quote(input.operation, input);
    const now = this.#now();
    const wallet = await lockWallet(tx, input.workspaceId, now);
    if (!wallet) throw notFound('Workspace');
    const existing = await findEntryByKey(tx, input.workspaceId, input.idempotencyKey);
    if (existing) {
      const same =
        existing.kind === 'charge' &&
        existing.operation === input.operation &&
        existing.amount === -credits &&
        existing.reference === input.reference;
      if (!same) throw idempotencyConflict(input.idempotencyKey);
      return { transaction: toTransaction(existing), balance: wallet.balance, duplicate: true };
    }
    if (credits === 0) {
      // Nothing to post: the ledger holds no zero entries.
      return {
        transaction: toTransaction(freeEntry(input, units, wallet.balance, now)),
        balance: wallet.balance,
        duplicate: false,
      };
    }
    const row = await appendEntry(
      tx,
      wallet,
      {
        kind: 'charge',
        amount: -credits,
        userId: input.userId,
        operation: input.operation,
        units,
        reference: input.reference,
        idempotencyKey: input.idempotencyKey,
        description: input.description ?? describeCharge(input.operation, units),
      },
      now,
    ).catch((error: unknown) => {
      // The 402 says what the operation costs and what the wallet holds.
      if (isInsufficient(error)) {
        Object.assign(error.details as object, { operation: input.operation, units });
      }
      throw error;
    });
    return { transaction: toTransaction(row), balance: wallet.balance, duplicate: false };
  }

  /**
   * Gives a charge back in full, once: a second call returns the first refund. Finds the charge
   * by its idempotency key in the workspace. No such charge: nothing happens (`transaction`
   * null), so callers can refund whatever they may or may not have charged.
   */
  async refund(input: {
    workspaceId: string;
    chargeIdempotencyKey: string;
    reason: string;
    userId?: string | null;
  }): Promise<RefundResult> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const charge = await findEntryByKey(tx, input.workspaceId, input.chargeIdempotencyKey);
      if (charge?.kind !== 'charge') return { transaction: null, duplicate: false };
      return this.#refundCharge(tx, charge, input.reason, input.userId, now);
    });
  }

  /**
   * Refunds the charge of an operation known only by its reference (a render id: the worker
   * that sees it fail does not know its workspace). No charge: nothing happens.
   */
  async refundByReference(input: {
    operation: Operation;
    reference: string;
    reason: string;
  }): Promise<RefundResult> {
    return this.#db.transaction((tx) => this.refundByReferenceIn(tx, input));
  }

  /**
   * {@link refundByReference} inside the caller's transaction: a render's final `failed` state
   * and its refund commit together, so neither can exist without the other.
   */
  async refundByReferenceIn(
    tx: Tx,
    input: { operation: Operation; reference: string; reason: string },
  ): Promise<RefundResult> {
    const now = this.#now();
    const [charge] = await tx
      .select()
      .from(tables.creditLedger)
      .where(
        and(
          eq(tables.creditLedger.reference, input.reference),
          eq(tables.creditLedger.kind, 'charge'),
          eq(tables.creditLedger.operation, input.operation),
        ),
      )
      .orderBy(desc(tables.creditLedger.seq))
      .limit(1);
    if (!charge) return { transaction: null, duplicate: false };
    return this.#refundCharge(tx, charge, input.reason, null, now);
  }

  async #refundCharge(
    tx: Tx,
    charge: LedgerRow,
    reason: string,
    userId: string | null | undefined,
    now: Date,
  ): Promise<RefundResult> {
    const wallet = await lockWallet(tx, charge.workspaceId, now);
    if (!wallet) return { transaction: null, duplicate: false };
    // Under the wallet lock, a refund committed by a concurrent call is visible here.
    const key = `refund:${charge.id}`;
    const existing = await findEntryByKey(tx, charge.workspaceId, key);
    if (existing) return { transaction: toTransaction(existing), duplicate: true };
    const row = await appendEntry(
      tx,
      wallet,
      {
        kind: 'refund',
        amount: -charge.amount,
        userId: userId ?? charge.userId,
        operation: charge.operation as Operation | null,
        units: charge.units,
        reference: charge.reference,
        idempotencyKey: key,
        refundOf: charge.id,
        description: `Refund (${reason}): ${charge.description}`,
      },
      now,
    );
    return { transaction: toTransaction(row), duplicate: false };
  }

  /**
   * The signup grant, inside the signup transaction (the first workspace exists in it). Keyed
   * by user, so it can never be granted twice.
   */
  async grantSignupCredits(tx: Tx, input: { userId: string; workspaceId: string }): Promise<void> {
    const now = this.#now();
    const wallet = await lockWallet(tx, input.workspaceId, now);
    if (!wallet) throw new Error(`signup grant: workspace ${input.workspaceId} does not exist`);
    if (this.settings.signupCredits <= 0) return;
    if (await findEntryByKey(tx, input.workspaceId, `signup:${input.userId}`)) return;
    await appendEntry(
      tx,
      wallet,
      {
        kind: 'signup_bonus',
        amount: this.settings.signupCredits,
        userId: input.userId,
        idempotencyKey: `signup:${input.userId}`,
        description: `Welcome credits: ${this.settings.signupCredits}`,
      },
      now,
    );
  }

  /**
   * The daily login bonus: at most one per user per rolling interval (default 24 h), i.e. a
   * login earns it when the user's previous bonus is at least 24 h old, not once per calendar
   * day (which would let a user collect two bonuses a minute apart around midnight). The
   * credits go to the oldest workspace the user owns (the one made at signup).
   *
   * One conditional upsert on the user's `login_bonuses` row decides: it moves
   * `last_granted_at` only when the previous grant is old enough, and Postgres re-checks that
   * condition on the newest row version after waiting for a concurrent login's lock, so racing
   * logins (on any number of nodes) grant once. The ledger entry commits in the same
   * transaction, keyed `login-bonus:<userId>:<grant time>` as a second guard.
   */
  async grantLoginBonus(userId: string): Promise<{ granted: boolean; workspaceId: string | null }> {
    const credits = this.settings.dailyBonusCredits;
    if (credits <= 0) return { granted: false, workspaceId: null };
    const now = this.#now();
    const intervalMs = this.settings.dailyBonusIntervalHours * 3600_000;
    const earliestPrevious = new Date(now.getTime() - intervalMs);
    return this.#db.transaction(async (tx) => {
      const [target] = await tx
        .select({ workspaceId: tables.workspaceMembers.workspaceId })
        .from(tables.workspaceMembers)
        .innerJoin(tables.workspaces, eq(tables.workspaces.id, tables.workspaceMembers.workspaceId))
        .where(
          and(
            eq(tables.workspaceMembers.userId, userId),
            eq(tables.workspaceMembers.role, 'owner'),
          ),
        )
        .orderBy(tables.workspaces.createdAt, tables.workspaces.id)
        .limit(1);
      // A user who owns no workspace has no wallet of their own; their window stays open.
      if (!target) return { granted: false, workspaceId: null };
      const [claimed] = await tx
        .insert(tables.loginBonuses)
        .values({ userId, lastGrantedAt: now })
        .onConflictDoUpdate({
          target: tables.loginBonuses.userId,
          set: { lastGrantedAt: now },
          setWhere: sql`${tables.loginBonuses.lastGrantedAt} <= ${earliestPrevious.toISOString()}::timestamptz`,
        })
        .returning({ userId: tables.loginBonuses.userId });
      if (!claimed) return { granted: false, workspaceId: target.workspaceId };
      const wallet = await lockWallet(tx, target.workspaceId, now);
      if (!wallet) return { granted: false, workspaceId: null };
      await appendEntry(
        tx,
        wallet,
        {
          kind: 'daily_bonus',
          amount: credits,
          userId,
          idempotencyKey: `login-bonus:${userId}:${now.toISOString()}`,
          description: `Daily login bonus: ${credits}`,
        },
        now,
      );
      return { granted: true, workspaceId: target.workspaceId };
    });
  }

  /** The wallet of a workspace the user is a member of (any role); another workspace is 404. */
  async getBalance(userId: string, workspaceId: string): Promise<BalanceResponse> {
    await this.#workspaces.requireRole(userId, workspaceId, 'viewer');
    return this.balanceOf(workspaceId);
  }

  /** The wallet without an access check (internal callers, tests). */
  async balanceOf(workspaceId: string): Promise<BalanceResponse> {
    const [wallet] = await this.#db
      .select()
      .from(tables.wallets)
      .where(eq(tables.wallets.workspaceId, workspaceId));
    const plan =
      wallet?.planId && wallet.planStatus && LIVE_SUBSCRIPTION_STATUSES.has(wallet.planStatus)
        ? this.settings.plans.find((item) => item.id === wallet.planId)
        : undefined;
    return {
      workspaceId,
      balance: wallet?.balance ?? 0,
      plan:
        plan && wallet?.planStatus
          ? {
              id: plan.id,
              name: plan.name,
              status: wallet.planStatus,
              monthlyCredits: plan.monthlyCredits,
            }
          : null,
      flagged: Boolean(wallet?.flaggedAt),
      unrecoveredCredits: wallet?.unrecoveredCredits ?? 0,
    };
  }

  /** Ledger entries, newest first, `limit` at a time; `nextCursor` continues. Members only. */
  async listTransactions(
    userId: string,
    workspaceId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ transactions: Transaction[]; nextCursor: string | null }> {
    await this.#workspaces.requireRole(userId, workspaceId, 'viewer');
    const before = page.cursor === undefined ? undefined : decodeSeqCursor(page.cursor);
    const rows = await this.#db
      .select()
      .from(tables.creditLedger)
      .where(
        and(
          eq(tables.creditLedger.workspaceId, workspaceId),
          before === undefined ? undefined : lt(tables.creditLedger.seq, before),
        ),
      )
      .orderBy(desc(tables.creditLedger.seq))
      .limit(page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      transactions: items.map(toTransaction),
      nextCursor: rows.length > page.limit && last ? encodeSeqCursor(last.seq) : null,
    };
  }

  /** Owners only; another workspace is 404, a weaker role 403. */
  requireOwner(userId: string, workspaceId: string): Promise<unknown> {
    return this.#workspaces.requireRole(userId, workspaceId, 'owner');
  }

  /** The wallet's Stripe ids and plan (checkout reuses the customer). */
  async walletOf(workspaceId: string) {
    const [wallet] = await this.#db
      .select()
      .from(tables.wallets)
      .where(eq(tables.wallets.workspaceId, workspaceId));
    return wallet ?? null;
  }
}

const OPERATION_NAMES: Record<Operation, string> = {
  script: 'Script',
  voiceover: 'Voice-over',
  render: 'Render',
  publish: 'Publish',
};

function describeCharge(operation: Operation, units: number): string {
  return `${OPERATION_NAMES[operation]} (${units} ${units === 1 ? 'unit' : 'units'})`;
}

function freeEntry(input: ChargeInput, units: number, balance: number, now: Date): LedgerRow {
  return {
    id: '00000000-0000-0000-0000-000000000000',
    seq: 0,
    workspaceId: input.workspaceId,
    userId: input.userId,
    kind: 'charge',
    amount: 0,
    balanceAfter: balance,
    operation: input.operation,
    units,
    reference: input.reference,
    idempotencyKey: input.idempotencyKey,
    refundOf: null,
    description: `${describeCharge(input.operation, units)}: free`,
    createdAt: now,
  };
}

function isInsufficient(error: unknown): error is { details: object } {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'insufficient_credits' &&
    typeof (error as { details?: unknown }).details === 'object'
  );
}

/** The wire shape of a ledger entry. */
export function toTransaction(row: LedgerRow): Transaction {
  return {
    id: row.id,
    amount: row.amount,
    kind: row.kind,
    balanceAfter: row.balanceAfter,
    operation: (row.operation as Operation | null) ?? null,
    units: row.units,
    reference: row.reference,
    description: row.description,
    userId: row.userId,
    refundOf: row.refundOf,
    createdAt: row.createdAt.toISOString(),
  };
}

function encodeSeqCursor(seq: number): string {
  return Buffer.from(`ledger:${seq}`).toString('base64url');
}

/** The ledger `seq` a cursor of `encodeSeqCursor` names; anything else is a 400 naming `cursor`. */
function decodeSeqCursor(cursor: string): number {
  const match = /^ledger:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const seq = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(seq)) throw invalidCursor();
  return seq;
}
