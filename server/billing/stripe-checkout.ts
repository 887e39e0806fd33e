import type Stripe from 'stripe';
import { notFound } from '../errors.ts';
import { paymentProviderError, paymentsUnavailable } from './billing-errors.ts';
import type { BillingSettings } from './billing-settings.ts';

export interface StripeCheckoutOptions {
  /** `sk_...`. Absent: `createSession` answers 503 and nothing else changes. */
  secretKey: string | undefined;
  /**
   * Another Stripe API origin (`http://127.0.0.1:4242`), for the local fake server of the
   * tests. Absent: api.stripe.com.
   */
  apiBase?: string | undefined;
  settings: BillingSettings;
  /** Stripe request timeout. Default 20 s: a checkout the user waits for. */
  timeoutMs?: number;
}

export interface CheckoutRequest {
  workspaceId: string;
  userId: string;
  packageId: string;
  successUrl: string;
  cancelUrl: string;
  /** The workspace's Stripe customer from an earlier payment, reused so Stripe sees one buyer. */
  customerId: string | null;
}

/**
 * Creates Stripe Checkout Sessions: mode `payment` for a one-time package, `subscription` for a
 * monthly plan. The workspace, package, buyer and credits travel in the metadata of the session
 * and of the PaymentIntent or subscription it creates, so every later webhook event about the
 * payment can be credited to the right wallet without asking Stripe again.
 */
export class StripeCheckout {
  /**
   * Made on the first checkout: the SDK is megabytes of heap, and a node whose users never pay
   * never loads it.
   */
  readonly #stripe: (() => Promise<Stripe>) | undefined;
  readonly #settings: BillingSettings;

  constructor(options: StripeCheckoutOptions) {
    this.#settings = options.settings;
    const { secretKey } = options;
    let client: Promise<Stripe> | undefined;
    this.#stripe = secretKey
      ? () =>
          (client ??= import('stripe').then(
            ({ default: StripeClient }) =>
              new StripeClient(secretKey, {
                ...apiBaseOptions(options.apiBase),
                timeout: options.timeoutMs ?? 20_000,
                maxNetworkRetries: 2,
                telemetry: false,
              }),
          ))
      : undefined;
  }

  /** Whether STRIPE_SECRET_KEY is set. */
  get enabled(): boolean {
    return this.#stripe !== undefined;
  }

  /** Throws 404 for an unknown package, 503 without a secret key, 502 when Stripe fails. */
  async createSession(request: CheckoutRequest): Promise<{ url: string; sessionId: string }> {
    const pack = this.#settings.packages.find((item) => item.id === request.packageId);
    const plan = this.#settings.plans.find((item) => item.id === request.packageId);
    if (!pack && !plan) throw notFound(`Package '${request.packageId}'`);
    if (!this.#stripe) {
      throw paymentsUnavailable(
        'Payments are not configured on this server (STRIPE_SECRET_KEY is not set); credits can still be spent and granted',
      );
    }
    const credits = pack ? pack.credits : plan!.monthlyCredits;
    const metadata = {
      workspaceId: request.workspaceId,
      packageId: request.packageId,
      userId: request.userId,
      credits: String(credits),
    };
    const productName = pack
      ? `${pack.name}: ${pack.credits} credits`
      : `${plan!.name}: ${plan!.monthlyCredits} credits a month`;
    const priceCents = Math.round((pack ? pack.priceUsd : plan!.priceUsd) * 100);
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: pack ? 'payment' : 'subscription',
      client_reference_id: request.workspaceId,
      metadata,
      success_url: request.successUrl,
      cancel_url: request.cancelUrl,
      ...(request.customerId ? { customer: request.customerId } : {}),
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: 'usd',
            unit_amount: priceCents,
            product_data: { name: productName },
            ...(plan ? { recurring: { interval: 'month' as const } } : {}),
          },
        },
      ],
      ...(pack
        ? { payment_intent_data: { metadata } }
        : { subscription_data: { metadata: withoutCredits(metadata) } }),
    };
    let session: Stripe.Checkout.Session;
    try {
      session = await (await this.#stripe()).checkout.sessions.create(params);
    } catch (error) {
      throw paymentProviderError((error as Error).message);
    }
    if (!session.url) throw paymentProviderError('the Checkout Session has no url');
    return { url: session.url, sessionId: session.id };
  }
}

// A plan's monthly credits come from the configuration when each invoice is paid.
function withoutCredits(metadata: Record<string, string>): Record<string, string> {
  const { credits: _credits, ...rest } = metadata;
  return rest;
}

/** `host`, `port` and `protocol` of the SDK from an origin URL. */
function apiBaseOptions(apiBase: string | undefined) {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  const protocol = url.protocol === 'http:' ? ('http' as const) : ('https' as const);
  return {
    host: url.hostname,
    port: url.port || (protocol === 'http' ? 80 : 443),
    protocol,
  };
}
