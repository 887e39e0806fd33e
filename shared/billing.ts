import { z } from 'zod';
import { pageQuerySchema } from './pagination.ts';
import { noControlCharacters, text } from './text.ts';

/** Paid operations. Their prices are server configuration (SPEC defaults: 10, 15, 40, 5). */
export const OPERATIONS = ['script', 'voiceover', 'render', 'publish'] as const;
export const operationSchema = z.enum(OPERATIONS);
export type Operation = z.infer<typeof operationSchema>;

/** What a price counts: one call, or each started minute of audio or video. */
export const priceUnitSchema = z.enum(['call', 'started_minute']);
export type PriceUnit = z.infer<typeof priceUnitSchema>;

/**
 * Why a ledger entry exists. Credits come in through grants, purchases and subscriptions,
 * go out through charges, come back through refunds, and go out again when Stripe refunds a
 * payment (`payment_refund`).
 */
export const LEDGER_KINDS = [
  'signup_bonus',
  'daily_bonus',
  'purchase',
  'subscription_credit',
  'charge',
  'refund',
  'payment_refund',
  /** Credits an owner added by hand while payments are not configured (`POST /billing/grants`). */
  'grant',
] as const;
export const ledgerKindSchema = z.enum(LEDGER_KINDS);
export type LedgerKind = z.infer<typeof ledgerKindSchema>;

/** `one_time` packages are bought once (Checkout mode payment); `subscription` plans monthly. */
export const packageKindSchema = z.enum(['one_time', 'subscription']);

export const creditPackageSchema = z
  .object({
    id: z.string().meta({ example: 'starter' }),
    name: z.string().meta({ example: 'Starter' }),
    /** Credits added per purchase, or per paid month for a subscription. */
    credits: z.number().int(),
    priceUsd: z.number(),
    kind: packageKindSchema,
    /** Billing interval of a subscription plan. */
    interval: z.literal('month').optional(),
  })
  .meta({ id: 'CreditPackage' });
export type CreditPackage = z.infer<typeof creditPackageSchema>;

export const operationPriceSchema = z
  .object({ operation: operationSchema, credits: z.number().int(), per: priceUnitSchema })
  .meta({ id: 'OperationPrice' });

export const packagesResponseSchema = z
  .object({ packages: z.array(creditPackageSchema), prices: z.array(operationPriceSchema) })
  .meta({ id: 'BillingPackages' });

export const workspaceQuerySchema = z.strictObject({ workspaceId: z.uuid() });

export const transactionsQuerySchema = pageQuerySchema.extend({ workspaceId: z.uuid() });

export const planStateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    /** Stripe's subscription status: active, trialing, past_due, ... */
    status: z.string(),
    monthlyCredits: z.number().int(),
  })
  .meta({ id: 'PlanState' });

export const balanceResponseSchema = z
  .object({
    workspaceId: z.uuid(),
    /** Credits available to spend; never negative. */
    balance: z.number().int(),
    /** The workspace's subscription, or null without one. */
    plan: planStateSchema.nullable(),
    /**
     * True when Stripe refunded a payment whose credits were already spent; `unrecoveredCredits`
     * is what could not be taken back.
     */
    flagged: z.boolean(),
    unrecoveredCredits: z.number().int(),
  })
  .meta({ id: 'Balance' });
export type BalanceResponse = z.infer<typeof balanceResponseSchema>;

export const transactionSchema = z
  .object({
    id: z.uuid(),
    /** Positive adds credits, negative spends them. */
    amount: z.number().int(),
    kind: ledgerKindSchema,
    /** The balance right after this entry. */
    balanceAfter: z.number().int(),
    operation: operationSchema.nullable(),
    units: z.number().int().nullable(),
    /** What the entry is about: a render id, a Stripe Checkout Session or invoice id, ... */
    reference: z.string().nullable(),
    description: z.string(),
    /** The member who caused the entry (bought, spent, logged in); null for none. */
    userId: z.uuid().nullable(),
    /** For a refund: the charge it gives back. */
    refundOf: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Transaction' });
export type Transaction = z.infer<typeof transactionSchema>;

export const transactionsResponseSchema = z
  .object({ transactions: z.array(transactionSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'Transactions' });

const returnUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(2000)
  .check(noControlCharacters)
  .optional();

export const checkoutBodySchema = z
  .strictObject({
    workspaceId: z.uuid(),
    packageId: text().trim().min(1).max(64),
    /** Where Stripe sends the buyer after paying. Default: this server's origin. */
    successUrl: returnUrl,
    /** Where Stripe sends the buyer when they go back. Default: this server's origin. */
    cancelUrl: returnUrl,
  })
  .meta({ id: 'CheckoutBody' });
export type CheckoutBody = z.infer<typeof checkoutBodySchema>;

export const checkoutResponseSchema = z
  .object({ url: z.url(), sessionId: z.string() })
  .meta({ id: 'Checkout' });

export const webhookAckSchema = z
  .object({ received: z.literal(true), duplicate: z.boolean() })
  .meta({ id: 'WebhookAck' });
