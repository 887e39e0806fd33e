export { Billing, type BillingOptions } from './billing.ts';
export { billingAccountHooks } from './billing-account-hooks.ts';
export {
  BILLING_ERROR_CODES,
  insufficientCredits,
  paymentsUnavailable,
} from './billing-errors.ts';
export { BillingRenderCharges, renderChargeKey } from './billing-render-charges.ts';
export {
  BillingService,
  type BillingServiceOptions,
  type ChargeInput,
  type ChargeResult,
  type Quote,
  type RefundResult,
} from './billing-service.ts';
export {
  type BillingSettings,
  DEFAULT_BILLING_SETTINGS,
  readBillingSettings,
  resolveBillingSettings,
} from './billing-settings.ts';
export { StripeCheckout, type StripeCheckoutOptions } from './stripe-checkout.ts';
export { StripeWebhookInbox, type StripeWebhookInboxOptions } from './stripe-webhook-inbox.ts';
export { workerRenderCharges } from './worker-render-charges.ts';
