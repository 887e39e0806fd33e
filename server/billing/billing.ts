import type { Logger } from 'pino';
import type { CheckoutBody } from '../../shared/billing.ts';
import type { AccountHooks } from '../auth/account-service.ts';
import type { Db } from '../db/index.ts';
import { conflict } from '../errors.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { billingAccountHooks } from './billing-account-hooks.ts';
import { BILLING_ERROR_CODES } from './billing-errors.ts';
import { BillingRenderCharges } from './billing-render-charges.ts';
import { BillingService } from './billing-service.ts';
import { type BillingSettings, DEFAULT_BILLING_SETTINGS } from './billing-settings.ts';
import { StripeCheckout } from './stripe-checkout.ts';
import { LIVE_SUBSCRIPTION_STATUSES } from './stripe-event-handlers.ts';
import { StripeWebhookInbox, type StripeWebhookInboxOptions } from './stripe-webhook-inbox.ts';

export interface BillingOptions {
  db: Db;
  workspaces: WorkspaceService;
  logger: Logger;
  /** Prices, packages, plans and grants. Default: the SPEC's (`DEFAULT_BILLING_SETTINGS`). */
  settings?: BillingSettings;
  /** STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE; each may be absent. */
  stripe?: {
    secretKey?: string | undefined;
    webhookSecret?: string | undefined;
    apiBase?: string | undefined;
  };
  /** Webhook inbox tuning (tests and benchmarks). */
  webhooks?: Pick<
    StripeWebhookInboxOptions,
    'toleranceSeconds' | 'batchSize' | 'batchDelayMs' | 'sweepIntervalMs' | 'claimDelayMs'
  >;
  /** The clock of grants, charges and events. Default `() => new Date()`. */
  now?: () => Date;
}

/**
 * Billing on one node: the wallet service every paid operation charges through, Stripe
 * checkout, the webhook inbox, and the adapters other parts plug in (account hooks for the
 * grants, render charges for the render farm).
 */
export class Billing {
  readonly service: BillingService;
  readonly checkout: StripeCheckout;
  readonly webhooks: StripeWebhookInbox;
  readonly renderCharges: BillingRenderCharges;
  readonly accountHooks: AccountHooks;
  #closing: Promise<void> | undefined;

  constructor(options: BillingOptions) {
    const settings = options.settings ?? DEFAULT_BILLING_SETTINGS;
    const now = options.now ?? (() => new Date());
    this.service = new BillingService({
      db: options.db,
      workspaces: options.workspaces,
      settings,
      now,
    });
    this.checkout = new StripeCheckout({
      secretKey: options.stripe?.secretKey,
      apiBase: options.stripe?.apiBase,
      settings,
    });
    this.webhooks = new StripeWebhookInbox({
      db: options.db,
      logger: options.logger,
      settings,
      now,
      webhookSecret: options.stripe?.webhookSecret,
      ...options.webhooks,
    });
    this.renderCharges = new BillingRenderCharges(this.service);
    this.accountHooks = billingAccountHooks(this.service);
  }

  /** Starts the webhook inbox's sweep (events a crash left unprocessed). */
  start(): void {
    this.webhooks.start();
  }

  /**
   * A Checkout Session for a package or plan, for an owner of the workspace. A workspace with
   * a live subscription cannot start a second one (409); changing plans is Stripe's portal's job.
   */
  async startCheckout(
    userId: string,
    body: CheckoutBody,
    defaultReturnUrl: string,
  ): Promise<{ url: string; sessionId: string }> {
    await this.service.requireOwner(userId, body.workspaceId);
    const wallet = await this.service.walletOf(body.workspaceId);
    const isPlan = this.service.settings.plans.some((plan) => plan.id === body.packageId);
    if (isPlan && wallet?.planStatus && LIVE_SUBSCRIPTION_STATUSES.has(wallet.planStatus)) {
      throw conflict(
        BILLING_ERROR_CODES.alreadySubscribed,
        `workspaceId: this workspace already has the ${wallet.planId} plan`,
      );
    }
    return this.checkout.createSession({
      workspaceId: body.workspaceId,
      userId,
      packageId: body.packageId,
      successUrl: body.successUrl ?? defaultReturnUrl,
      cancelUrl: body.cancelUrl ?? defaultReturnUrl,
      customerId: wallet?.stripeCustomerId ?? null,
    });
  }

  /** Stops the inbox; events not yet processed stay pending in the database. Safe twice. */
  close(): Promise<void> {
    this.#closing ??= this.webhooks.close();
    return this.#closing;
  }
}
