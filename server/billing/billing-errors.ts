import { DomainError } from '../errors.ts';

/** Error codes billing answers with, besides the common ones in shared/errors.ts. */
export const BILLING_ERROR_CODES = {
  insufficientCredits: 'insufficient_credits',
  idempotencyConflict: 'idempotency_conflict',
  alreadySubscribed: 'already_subscribed',
  invalidSignature: 'invalid_signature',
  paymentsUnavailable: 'service_unavailable',
  paymentProvider: 'payment_provider_error',
} as const;

/** 402 with what the client needs to decide: the balance and the price. */
export const insufficientCredits = (balance: number, price: number, details: object = {}) =>
  new DomainError(
    BILLING_ERROR_CODES.insufficientCredits,
    `Not enough credits: this costs ${price}, the workspace has ${balance}`,
    { details: { balance, price, ...details } },
  );

/** The same idempotency key was used before for a different request. */
export const idempotencyConflict = (key: string) =>
  new DomainError(
    BILLING_ERROR_CODES.idempotencyConflict,
    `idempotencyKey: '${key}' was already used for a different request`,
  );

export const invalidSignature = (message: string) =>
  new DomainError(BILLING_ERROR_CODES.invalidSignature, `stripe-signature: ${message}`);

export const paymentsUnavailable = (message: string) =>
  new DomainError(BILLING_ERROR_CODES.paymentsUnavailable, message);

export const paymentProviderError = (message: string) =>
  new DomainError(BILLING_ERROR_CODES.paymentProvider, `Stripe: ${message}`);
