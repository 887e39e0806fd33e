import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { LedgerKind } from '../../shared/billing.ts';
import type { Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import type { BillingSettings } from './billing-settings.ts';
import { appendEntry, findEntryByKey, lockWallet, type WalletRow } from './ledger.ts';

/** Event types that change a wallet; every other type is acknowledged and ignored. */
export const HANDLED_EVENT_TYPES: ReadonlySet<string> = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'invoice.paid',
  'charge.refunded',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
]);

/** What processing an event did, stored with the event. */
export interface EventOutcome {
  outcome: 'applied' | 'ignored' | 'deferred';
  detail: string;
  workspaceId: string | null;
}

export interface HandlerContext {
  settings: BillingSettings;
  now: Date;
  /** Called when a refund could not take back all of its credits. */
  onUnrecovered(workspaceId: string, credits: number, paymentKey: string): void;
}

/**
 * Latest `created` accepted, in Unix seconds: 9999-12-31T23:59:59Z. Stripe sends the time the
 * event happened; beyond this the conversion to a timestamp overflows (a JS Date ends in the
 * year 275760, a Postgres timestamp in 294276), which was a 500 for a correctly signed body.
 */
const MAX_EVENT_CREATED = 253_402_300_799;

/** A verified event as stored in the inbox; only the fields billing reads are checked. */
export const storedEventSchema = z.looseObject({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  created: z
    .number()
    .int({ error: 'must be Unix seconds (an integer)' })
    .min(0, { error: 'must be Unix seconds, not before 1970' })
    .max(MAX_EVENT_CREATED, { error: 'must be Unix seconds before the year 10000' }),
  data: z.looseObject({ object: z.looseObject({ id: z.string().optional() }) }),
});
export type StoredEvent = z.infer<typeof storedEventSchema>;

// Stripe expands some fields into objects depending on the request; ids are what we need.
const idOf = z
  .union([z.string(), z.looseObject({ id: z.string() })])
  .nullish()
  .transform((value) => (typeof value === 'string' ? value : (value?.id ?? null)));

/** The metadata checkout puts on the session, its PaymentIntent and its subscription. */
const ourMetadata = z.looseObject({
  workspaceId: z.uuid(),
  packageId: z.string().optional(),
  userId: z.uuid().optional().catch(undefined),
  credits: z.coerce.number().int().positive().optional().catch(undefined),
});
type OurMetadata = z.infer<typeof ourMetadata>;
const readMetadata = (value: unknown): OurMetadata | null => {
  const parsed = ourMetadata.safeParse(value);
  return parsed.success ? parsed.data : null;
};

const checkoutSessionSchema = z.looseObject({
  id: z.string(),
  mode: z.string(),
  payment_status: z.string().nullish(),
  metadata: z.unknown(),
  client_reference_id: z.string().nullish(),
  customer: idOf,
  payment_intent: idOf,
  subscription: idOf,
});

const chargeSchema = z.looseObject({
  id: z.string(),
  amount: z.number().int(),
  amount_refunded: z.number().int(),
  payment_intent: idOf,
});

const invoiceSchema = z.looseObject({
  id: z.string(),
  customer: idOf,
  metadata: z.unknown(),
  // API versions from 2025-03 on: parent.subscription_details and payments.
  parent: z
    .looseObject({
      subscription_details: z.looseObject({ subscription: idOf, metadata: z.unknown() }).nullish(),
    })
    .nullish(),
  payments: z
    .looseObject({
      data: z.array(z.looseObject({ payment: z.looseObject({ payment_intent: idOf }).nullish() })),
    })
    .nullish(),
  // Older API versions.
  subscription: idOf,
  subscription_details: z.looseObject({ metadata: z.unknown() }).nullish(),
  payment_intent: idOf,
  lines: z.looseObject({ data: z.array(z.looseObject({ metadata: z.unknown() })) }).nullish(),
});

const subscriptionSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  customer: idOf,
  metadata: z.unknown(),
  items: z
    .looseObject({
      data: z.array(
        z.looseObject({
          price: z
            .looseObject({
              unit_amount: z.number().nullish(),
              recurring: z.looseObject({ interval: z.string() }).nullish(),
            })
            .nullish(),
        }),
      ),
    })
    .nullish(),
});

/**
 * The plan a subscription is on now. Checkout creates prices inline, so after a change of
 * plan (Stripe's customer portal, the dashboard) the item's monthly price is what tells the
 * plans apart; the metadata still names the plan the subscription started with.
 */
function planOfSubscription(
  subscription: z.infer<typeof subscriptionSchema>,
  settings: BillingSettings,
): string | null {
  const prices = (subscription.items?.data ?? [])
    .map((item) => item.price)
    .filter((price) => price?.recurring?.interval === 'month' && price.unit_amount != null);
  if (prices.length !== 1) return null;
  const matches = settings.plans.filter(
    (plan) => Math.round(plan.priceUsd * 100) === prices[0]!.unit_amount,
  );
  return matches.length === 1 ? matches[0]!.id : null;
}

/** Statuses in which a subscription's plan counts as the workspace's plan. */
export const LIVE_SUBSCRIPTION_STATUSES: ReadonlySet<string> = new Set([
  'active',
  'trialing',
  'past_due',
]);

const ignored = (detail: string, workspaceId: string | null = null): EventOutcome => ({
  outcome: 'ignored',
  detail,
  workspaceId,
});

/**
 * Applies one verified event inside the caller's transaction (the one that also marks the
 * event processed). Every handler is written to be correct whatever order events arrive in:
 * grants are keyed by the Stripe object they come from, refunds by the cumulative refunded
 * amount, and subscription changes by the event's `created` time.
 *
 * Locks are always taken in the order payment row, then wallet, as charges take the wallet
 * lock alone, so concurrent events and charges cannot deadlock.
 */
export async function applyStripeEvent(
  tx: Tx,
  event: StoredEvent,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const object = event.data.object;
  const at = new Date(event.created * 1000);
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return checkoutCompleted(tx, checkoutSessionSchema.parse(object), at, ctx);
    case 'invoice.paid':
      return invoicePaid(tx, invoiceSchema.parse(object), ctx);
    case 'charge.refunded':
      return chargeRefunded(tx, chargeSchema.parse(object), ctx);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = subscriptionSchema.parse(object);
      const status =
        event.type === 'customer.subscription.deleted' ? 'canceled' : subscription.status;
      return subscriptionChanged(tx, subscription, status, at, ctx);
    }
    default:
      return ignored(`event type ${event.type} is not handled`);
  }
}

async function checkoutCompleted(
  tx: Tx,
  session: z.infer<typeof checkoutSessionSchema>,
  at: Date,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const metadata =
    readMetadata(session.metadata) ??
    readMetadata({ workspaceId: session.client_reference_id ?? undefined });
  if (!metadata) return ignored('checkout session without a workspace in its metadata');
  const { workspaceId } = metadata;

  if (session.mode === 'subscription') {
    if (!session.subscription)
      return ignored('subscription checkout without a subscription', workspaceId);
    const wallet = await lockWallet(tx, workspaceId, ctx.now);
    if (!wallet) return ignored('workspace no longer exists', workspaceId);
    return applySubscription(tx, wallet, {
      subscriptionId: session.subscription,
      planId: metadata.packageId ?? null,
      status: 'active',
      at,
      customerId: session.customer,
      now: ctx.now,
    });
  }
  if (session.mode !== 'payment') return ignored(`checkout mode ${session.mode}`, workspaceId);
  if (session.payment_status !== 'paid' && session.payment_status !== 'no_payment_required') {
    // Delayed payment methods: checkout.session.async_payment_succeeded brings the credits.
    return ignored(
      `payment is ${session.payment_status}; credits come when it succeeds`,
      workspaceId,
    );
  }
  const pack = ctx.settings.packages.find((item) => item.id === metadata.packageId);
  // The credits promised at checkout win over today's configuration.
  const credits = metadata.credits ?? pack?.credits;
  if (!credits) return ignored(`unknown package '${metadata.packageId}'`, workspaceId);
  return grantPayment(tx, ctx, {
    paymentKey: session.payment_intent ?? `checkout:${session.id}`,
    workspaceId,
    userId: metadata.userId ?? null,
    credits,
    kind: 'purchase',
    source: session.id,
    idempotencyKey: `stripe:checkout:${session.id}`,
    description: `${pack?.name ?? metadata.packageId} package: ${credits} credits`,
    customerId: session.customer,
  });
}

async function invoicePaid(
  tx: Tx,
  invoice: z.infer<typeof invoiceSchema>,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const details = invoice.parent?.subscription_details;
  const subscriptionId = details?.subscription ?? invoice.subscription;
  const metadata =
    readMetadata(details?.metadata) ??
    readMetadata(invoice.subscription_details?.metadata) ??
    readMetadata(invoice.lines?.data[0]?.metadata) ??
    readMetadata(invoice.metadata);
  let workspaceId = metadata?.workspaceId ?? null;
  let planId = metadata?.packageId ?? null;
  if (!workspaceId && (subscriptionId || invoice.customer)) {
    const [wallet] = await tx
      .select()
      .from(tables.wallets)
      .where(
        subscriptionId
          ? eq(tables.wallets.stripeSubscriptionId, subscriptionId)
          : eq(tables.wallets.stripeCustomerId, invoice.customer!),
      );
    workspaceId = wallet?.workspaceId ?? null;
    planId ??= wallet?.planId ?? null;
  }
  if (!workspaceId) return ignored('invoice of no known workspace');
  if (subscriptionId && metadata) {
    // After a change of plan the wallet knows the current plan; the metadata the first one.
    const [wallet] = await tx
      .select({ planId: tables.wallets.planId })
      .from(tables.wallets)
      .where(
        and(
          eq(tables.wallets.workspaceId, workspaceId),
          eq(tables.wallets.stripeSubscriptionId, subscriptionId),
        ),
      );
    if (wallet?.planId) planId = wallet.planId;
  }
  const plan = ctx.settings.plans.find((item) => item.id === planId);
  if (!plan) return ignored(`invoice for unknown plan '${planId}'`, workspaceId);
  const paymentIntent =
    invoice.payments?.data.find((item) => item.payment?.payment_intent)?.payment?.payment_intent ??
    invoice.payment_intent;
  return grantPayment(tx, ctx, {
    paymentKey: paymentIntent ?? `invoice:${invoice.id}`,
    workspaceId,
    userId: metadata?.userId ?? null,
    credits: plan.monthlyCredits,
    kind: 'subscription_credit',
    source: invoice.id,
    idempotencyKey: `stripe:invoice:${invoice.id}`,
    description: `${plan.name}: ${plan.monthlyCredits} monthly credits`,
    customerId: invoice.customer,
  });
}

interface PaymentGrant {
  paymentKey: string;
  workspaceId: string;
  userId: string | null;
  credits: number;
  kind: LedgerKind;
  source: string;
  idempotencyKey: string;
  description: string;
  customerId: string | null;
}

async function grantPayment(
  tx: Tx,
  ctx: HandlerContext,
  grant: PaymentGrant,
): Promise<EventOutcome> {
  const payment = await lockPayment(tx, grant.paymentKey, ctx.now);
  if (payment.credits !== null) return ignored('payment already credited', grant.workspaceId);
  const wallet = await lockWallet(tx, grant.workspaceId, ctx.now);
  if (!wallet) return ignored('workspace no longer exists', grant.workspaceId);
  if (await findEntryByKey(tx, wallet.workspaceId, grant.idempotencyKey)) {
    return ignored('already credited', grant.workspaceId);
  }
  await appendEntry(
    tx,
    wallet,
    {
      kind: grant.kind,
      amount: grant.credits,
      userId: grant.userId,
      idempotencyKey: grant.idempotencyKey,
      reference: grant.source,
      description: grant.description,
    },
    ctx.now,
  );
  const credited = {
    ...payment,
    workspaceId: grant.workspaceId,
    userId: grant.userId,
    source: grant.source,
    credits: grant.credits,
  };
  await tx
    .update(tables.stripePayments)
    .set({
      workspaceId: credited.workspaceId,
      userId: credited.userId,
      source: credited.source,
      credits: credited.credits,
      updatedAt: ctx.now,
    })
    .where(eq(tables.stripePayments.paymentKey, grant.paymentKey));
  if (grant.customerId && !wallet.stripeCustomerId) {
    await tx
      .update(tables.wallets)
      .set({ stripeCustomerId: grant.customerId })
      .where(eq(tables.wallets.workspaceId, wallet.workspaceId));
  }
  let detail = `added ${grant.credits} credits`;
  if (credited.refundedCents > 0) {
    // The refund came first; settle it now that there is something to take back.
    const settled = await settleRefund(tx, credited, wallet, ctx);
    detail += `; ${settled.detail}`;
  }
  return { outcome: 'applied', detail, workspaceId: grant.workspaceId };
}

async function chargeRefunded(
  tx: Tx,
  charge: z.infer<typeof chargeSchema>,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const paymentKey = charge.payment_intent ?? charge.id;
  const payment = await lockPayment(tx, paymentKey, ctx.now);
  // `amount_refunded` is cumulative, so the largest value seen is the truth whatever the order.
  const refundedCents = Math.max(payment.refundedCents, charge.amount_refunded);
  await tx
    .update(tables.stripePayments)
    .set({ refundedCents, amountCents: charge.amount, updatedAt: ctx.now })
    .where(eq(tables.stripePayments.paymentKey, paymentKey));
  const updated = { ...payment, refundedCents, amountCents: charge.amount };
  if (updated.credits === null || !updated.workspaceId) {
    return {
      outcome: 'deferred',
      detail: `refund of ${refundedCents} cents recorded; settled when its payment arrives`,
      workspaceId: null,
    };
  }
  const wallet = await lockWallet(tx, updated.workspaceId, ctx.now);
  if (!wallet) return ignored('workspace no longer exists', updated.workspaceId);
  return settleRefund(tx, updated, wallet, ctx);
}

type PaymentRow = typeof tables.stripePayments.$inferSelect;

/**
 * Takes back the credits of the refunded share of a payment, as far as the balance allows.
 * What cannot be taken back (already spent) is recorded on the payment and the wallet, and
 * the wallet is flagged for review.
 */
async function settleRefund(
  tx: Tx,
  payment: PaymentRow,
  wallet: WalletRow,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const credits = payment.credits ?? 0;
  const amount = payment.amountCents ?? 0;
  const target =
    amount > 0
      ? Math.min(credits, Math.floor((credits * payment.refundedCents) / amount))
      : credits;
  const due = target - payment.creditsReversed - payment.creditsUnrecovered;
  if (due <= 0) return ignored('refund already settled', wallet.workspaceId);
  const taken = Math.min(due, wallet.balance);
  const unrecovered = due - taken;
  if (taken > 0) {
    await appendEntry(
      tx,
      wallet,
      {
        kind: 'payment_refund',
        amount: -taken,
        userId: payment.userId,
        idempotencyKey: `stripe:refund:${payment.paymentKey}:${target}`,
        reference: payment.source ?? payment.paymentKey,
        description: `Payment refunded: ${taken} credits taken back`,
      },
      ctx.now,
    );
  }
  await tx
    .update(tables.stripePayments)
    .set({
      creditsReversed: payment.creditsReversed + taken,
      creditsUnrecovered: payment.creditsUnrecovered + unrecovered,
      updatedAt: ctx.now,
    })
    .where(eq(tables.stripePayments.paymentKey, payment.paymentKey));
  if (unrecovered > 0) {
    await tx
      .update(tables.wallets)
      .set({
        unrecoveredCredits: sql`${tables.wallets.unrecoveredCredits} + ${unrecovered}`,
        flaggedAt: wallet.flaggedAt ?? ctx.now,
      })
      .where(eq(tables.wallets.workspaceId, wallet.workspaceId));
    ctx.onUnrecovered(wallet.workspaceId, unrecovered, payment.paymentKey);
  }
  return {
    outcome: 'applied',
    detail: `refund took back ${taken} credits${unrecovered > 0 ? `, ${unrecovered} already spent (flagged)` : ''}`,
    workspaceId: wallet.workspaceId,
  };
}

/** Locks the payment's row, creating it empty when this is the first event about it. */
async function lockPayment(tx: Tx, paymentKey: string, now: Date): Promise<PaymentRow> {
  await tx
    .insert(tables.stripePayments)
    .values({ paymentKey, createdAt: now, updatedAt: now })
    .onConflictDoNothing();
  const [row] = await tx
    .select()
    .from(tables.stripePayments)
    .where(eq(tables.stripePayments.paymentKey, paymentKey))
    .for('update');
  return row!;
}

async function subscriptionChanged(
  tx: Tx,
  subscription: z.infer<typeof subscriptionSchema>,
  status: string,
  at: Date,
  ctx: HandlerContext,
): Promise<EventOutcome> {
  const metadata = readMetadata(subscription.metadata);
  let workspaceId = metadata?.workspaceId ?? null;
  if (!workspaceId) {
    const [row] = await tx
      .select({ workspaceId: tables.wallets.workspaceId })
      .from(tables.wallets)
      .where(eq(tables.wallets.stripeSubscriptionId, subscription.id));
    workspaceId = row?.workspaceId ?? null;
  }
  if (!workspaceId) return ignored('subscription of no known workspace');
  const wallet = await lockWallet(tx, workspaceId, ctx.now);
  if (!wallet) return ignored('workspace no longer exists', workspaceId);
  return applySubscription(tx, wallet, {
    subscriptionId: subscription.id,
    planId:
      planOfSubscription(subscription, ctx.settings) ??
      metadata?.packageId ??
      (wallet.stripeSubscriptionId === subscription.id ? wallet.planId : null),
    status,
    at,
    customerId: subscription.customer,
    now: ctx.now,
  });
}

interface SubscriptionState {
  subscriptionId: string;
  planId: string | null;
  status: string;
  /** The event's `created`. */
  at: Date;
  customerId: string | null;
  now: Date;
}

/**
 * Sets the wallet's subscription unless the event is stale: older than the last applied one,
 * about a subscription already canceled (cancellation is final), or canceling a subscription
 * that is no longer the workspace's.
 */
async function applySubscription(
  tx: Tx,
  wallet: WalletRow,
  state: SubscriptionState,
): Promise<EventOutcome> {
  const same = wallet.stripeSubscriptionId === state.subscriptionId;
  const stale = (detail: string) =>
    ignored(`stale subscription event: ${detail}`, wallet.workspaceId);
  if (same && wallet.planStatus === 'canceled' && state.status !== 'canceled') {
    return stale('the subscription is already canceled');
  }
  if (wallet.subscriptionEventAt && wallet.subscriptionEventAt > state.at) {
    return stale('a newer event was applied');
  }
  if (!same && state.status === 'canceled' && wallet.stripeSubscriptionId) {
    return stale('not the current subscription');
  }
  const live = LIVE_SUBSCRIPTION_STATUSES.has(state.status);
  await tx
    .update(tables.wallets)
    .set({
      stripeSubscriptionId: state.subscriptionId,
      planId: live ? state.planId : null,
      planStatus: state.status,
      subscriptionEventAt: state.at,
      ...(state.customerId && !wallet.stripeCustomerId && { stripeCustomerId: state.customerId }),
      updatedAt: state.now,
    })
    .where(eq(tables.wallets.workspaceId, wallet.workspaceId));
  return {
    outcome: 'applied',
    detail: `subscription ${state.subscriptionId} is ${state.status}${live && state.planId ? ` (${state.planId})` : ''}`,
    workspaceId: wallet.workspaceId,
  };
}
