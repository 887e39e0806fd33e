import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import { LEDGER_KINDS } from '../../../shared/billing.ts';
import { users } from './accounts.ts';
import { workspaces } from './workspaces.ts';

/** Built from the contract's ledger kinds (shared/billing.ts). */
export const ledgerKind = pgEnum('ledger_kind', LEDGER_KINDS);

/**
 * One wallet per workspace. `balance` always equals the sum of the workspace's ledger entries:
 * both change in the same transaction, under this row's lock. The CHECK makes a negative
 * balance impossible whatever the code does.
 */
export const wallets = pgTable(
  'wallets',
  {
    workspaceId: uuid('workspace_id')
      .primaryKey()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    balance: integer('balance').notNull().default(0),
    /** Credits a Stripe refund should have taken back but could not (already spent). */
    unrecoveredCredits: integer('unrecovered_credits').notNull().default(0),
    /** Set when `unrecoveredCredits` first became positive; for support to review. */
    flaggedAt: timestamp('flagged_at', { withTimezone: true }),
    stripeCustomerId: text('stripe_customer_id'),
    stripeSubscriptionId: text('stripe_subscription_id'),
    planId: text('plan_id'),
    /** Stripe's subscription status (active, past_due, canceled, ...). */
    planStatus: text('plan_status'),
    /** `created` of the Stripe event that last set the subscription; older events are stale. */
    subscriptionEventAt: timestamp('subscription_event_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    check('wallets_balance_non_negative', sql`${table.balance} >= 0`),
    index('wallets_subscription_idx').on(table.stripeSubscriptionId),
    index('wallets_customer_idx').on(table.stripeCustomerId),
  ],
);

/**
 * The append-only credit ledger. Nothing updates or deletes a row (except the cascade when a
 * workspace is deleted). An idempotency key is unique per workspace, so a retried grant,
 * charge or webhook can never post twice; a charge has at most one refund (`refund_of` unique).
 */
export const creditLedger = pgTable(
  'credit_ledger',
  {
    id: uuid('id').primaryKey(),
    /**
     * Insertion order. Entries of one wallet are written under its row lock, so within a wallet
     * `seq` is also commit order: the transaction list pages on it, newest first, without gaps.
     */
    seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity().notNull(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** The member who caused the entry. No foreign key: history outlives accounts. */
    userId: uuid('user_id'),
    kind: ledgerKind('kind').notNull(),
    amount: integer('amount').notNull(),
    balanceAfter: integer('balance_after').notNull(),
    operation: text('operation'),
    units: integer('units'),
    reference: text('reference'),
    idempotencyKey: text('idempotency_key').notNull(),
    refundOf: uuid('refund_of')
      .unique()
      .references((): AnyPgColumn => creditLedger.id),
    description: text('description').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    unique('credit_ledger_idempotency_key').on(table.workspaceId, table.idempotencyKey),
    index('credit_ledger_workspace_seq_idx').on(table.workspaceId, table.seq),
    // By reference alone: a render's refund knows the render id, not its workspace.
    index('credit_ledger_reference_only_idx').on(table.reference),
    check('credit_ledger_amount_non_zero', sql`${table.amount} <> 0`),
    check('credit_ledger_balance_non_negative', sql`${table.balanceAfter} >= 0`),
  ],
);

/** When each user last got the daily login bonus; one conditional upsert grants it at most once per interval. */
export const loginBonuses = pgTable('login_bonuses', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  lastGrantedAt: timestamp('last_granted_at', { withTimezone: true }).notNull(),
});

/**
 * Inbox of verified Stripe events. The webhook acknowledges once the event is stored here;
 * processing marks `processed_at` in the same transaction as the event's effect, so each
 * event id takes effect exactly once however often Stripe sends it.
 */
export const stripeEvents = pgTable(
  'stripe_events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    /** The event's own `created` (Stripe's clock). */
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true }),
    /** applied | ignored | deferred */
    outcome: text('outcome'),
    detail: text('detail'),
    workspaceId: uuid('workspace_id'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull(),
    lastError: text('last_error'),
  },
  (table) => [
    index('stripe_events_pending_idx')
      .on(table.nextAttemptAt)
      .where(sql`${table.processedAt} is null`),
  ],
);

/**
 * One row per Stripe payment (keyed by PaymentIntent id): what it bought and how much of it
 * was refunded. A refund that arrives before its payment waits here until the payment does.
 */
export const stripePayments = pgTable('stripe_payments', {
  paymentKey: text('payment_key').primaryKey(),
  workspaceId: uuid('workspace_id').references(() => workspaces.id, { onDelete: 'cascade' }),
  userId: uuid('user_id'),
  /** Checkout Session or invoice id that granted the credits. */
  source: text('source'),
  /** Credits the payment granted; null until the paying event arrives. */
  credits: integer('credits'),
  amountCents: integer('amount_cents'),
  refundedCents: integer('refunded_cents').notNull().default(0),
  creditsReversed: integer('credits_reversed').notNull().default(0),
  creditsUnrecovered: integer('credits_unrecovered').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});
