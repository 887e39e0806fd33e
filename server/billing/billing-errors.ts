import { ApiError } from '../errors.ts';

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
  new ApiError(
    402,
    BILLING_ERROR_CODES.insufficientCredits,
    `Not enough credits: this costs ${price}, the workspace has ${balance}`,
    { balance, price, ...details },
  );

/** The same idempotency key was used before for a different request. */
export const idempotencyConflict = (key: string) =>
  new ApiError(
    409,
    BILLING_ERROR_CODES.idempotencyConflict,
    `idempotencyKey: '${key}' was already used for a different request`,
  );

export const invalidSignature = (message: string) =>
  new ApiError(400, BILLING_ERROR_CODES.invalidSignature, `stripe-signature: ${message}`);

export const paymentsUnavailable = (message: string) =>
  new ApiError(503, BILLING_ERROR_CODES.paymentsUnavailable, message);

export const paymentProviderError = (message: string) =>
  new ApiError(502, BILLING_ERROR_CODES.paymentProvider, `Stripe: ${message}`);
