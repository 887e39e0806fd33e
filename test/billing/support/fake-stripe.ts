import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/** One request the fake received, decoded. */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  stripeVersion: string | undefined;
  idempotencyKey: string | undefined;
  body: Record<string, unknown>;
}

export interface FakeCheckoutSession {
  id: string;
  object: 'checkout.session';
  mode: 'payment' | 'subscription';
  status: 'open' | 'complete';
  payment_status: 'unpaid' | 'paid';
  url: string;
  client_reference_id: string | null;
  customer: string | null;
  payment_intent: string | null;
  subscription: string | null;
  metadata: Record<string, string>;
  amount_total: number;
  currency: string;
  success_url: string;
  cancel_url: string | null;
  created: number;
  livemode: false;
  /** Kept for building later events; Stripe keeps these on the PaymentIntent / subscription. */
  payment_intent_data?: { metadata?: Record<string, string> };
  subscription_data?: { metadata?: Record<string, string> };
}

const id = (prefix: string) => `${prefix}_test_${randomBytes(12).toString('hex')}`;

/**
 * A small local server speaking the part of the Stripe API Reelroom calls (`POST
 * /v1/checkout/sessions`), in Stripe's wire format: form-encoded requests with bracketed keys,
 * JSON objects back, Stripe's error body for a missing key. It also builds the webhook events
 * Stripe would send afterwards, signed with the SDK's own test-header helper.
 */
export class FakeStripe {
  readonly requests: RecordedRequest[] = [];
  readonly sessions = new Map<string, FakeCheckoutSession>();
  readonly #server: Server;
  readonly #secretKey: string;
  /** When set, the next session create fails with this HTTP status (Stripe API error). */
  failNextWith: number | undefined;

  private constructor(secretKey: string) {
    this.#secretKey = secretKey;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
      });
    });
  }

  /** Starts on 127.0.0.1, port 0; tests pass `apiBase` as STRIPE_API_BASE. */
  static async start(secretKey = 'sk_test_reelroom'): Promise<FakeStripe> {
    const fake = new FakeStripe(secretKey);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get secretKey(): string {
    return this.#secretKey;
  }

  get apiBase(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = decodeForm(raw);
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      authorization: req.headers.authorization,
      stripeVersion: header(req, 'stripe-version'),
      idempotencyKey: header(req, 'idempotency-key'),
      body,
    });
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
      res.end(JSON.stringify(json));
    };
    if (req.headers.authorization !== `Bearer ${this.#secretKey}`) {
      return send(401, {
        error: {
          type: 'invalid_request_error',
          message: 'Invalid API Key provided',
        },
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      if (this.failNextWith) {
        const status = this.failNextWith;
        this.failNextWith = undefined;
        return send(status, {
          error: { type: 'invalid_request_error', message: 'The fake was told to fail' },
        });
      }
      return send(200, this.#createSession(body));
    }
    const sessionMatch = /^\/v1\/checkout\/sessions\/([\w]+)$/.exec(url.pathname);
    if (req.method === 'GET' && sessionMatch) {
      const session = this.sessions.get(sessionMatch[1]!);
      if (session) return send(200, session);
    }
    return send(404, {
      error: {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${req.method}: ${url.pathname})`,
      },
    });
  }

  #createSession(body: Record<string, unknown>): FakeCheckoutSession {
    const mode = body.mode === 'subscription' ? 'subscription' : 'payment';
    const lineItems = (body.line_items as Array<Record<string, unknown>> | undefined) ?? [];
    const priceData = lineItems[0]?.price_data as Record<string, unknown> | undefined;
    const sessionId = id('cs');
    const session: FakeCheckoutSession = {
      id: sessionId,
      object: 'checkout.session',
      mode,
      status: 'open',
      payment_status: 'unpaid',
      url: `https://checkout.stripe.com/c/pay/${sessionId}`,
      client_reference_id: (body.client_reference_id as string | undefined) ?? null,
      customer: (body.customer as string | undefined) ?? null,
      payment_intent: null,
      subscription: null,
      metadata: (body.metadata as Record<string, string> | undefined) ?? {},
      amount_total: Number(priceData?.unit_amount ?? 0),
      currency: String(priceData?.currency ?? 'usd'),
      success_url: String(body.success_url),
      cancel_url: (body.cancel_url as string | undefined) ?? null,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      ...(body.payment_intent_data
        ? { payment_intent_data: body.payment_intent_data as { metadata?: Record<string, string> } }
        : {}),
      ...(body.subscription_data
        ? { subscription_data: body.subscription_data as { metadata?: Record<string, string> } }
        : {}),
    };
    this.sessions.set(sessionId, session);
    return session;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `a[b][0][c]=1&d=2` -> `{a: {b: [{c: '1'}]}, d: '2'}` (Stripe's form encoding). */
export function decodeForm(raw: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const parts = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, index) => {
      const last = index === parts.length - 1;
      const nextIsIndex = /^\d+$/.test(parts[index + 1] ?? '');
      const slot = node as Record<string, unknown>;
      if (last) {
        slot[part] = value;
        return;
      }
      slot[part] ??= nextIsIndex ? [] : {};
      node = slot[part] as Record<string, unknown>;
    });
  }
  return root;
}

// ---- Webhook events, as Stripe would send them ----------------------------------------------

let sequence = 0;

/** A Stripe event envelope around `object`; `created` defaults to now. */
export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; created?: number } = {},
): Record<string, unknown> {
  sequence += 1;
  return {
    id: options.id ?? `evt_test_${randomBytes(8).toString('hex')}${sequence}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: options.created ?? Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

/** Serialises an event and signs it the way Stripe does (`t=...,v1=...`). */
export function signEvent(
  event: Record<string, unknown>,
  secret: string,
  options: { timestamp?: number } = {},
): { body: string; signature: string } {
  const body = JSON.stringify(event, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret,
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
  });
  return { body, signature };
}

/** The session after payment, as `checkout.session.completed` carries it. */
export function completedSession(
  session: FakeCheckoutSession,
  ids: { paymentIntent?: string; subscription?: string; customer?: string } = {},
): Record<string, unknown> {
  const { payment_intent_data: _pi, subscription_data: _sub, ...wire } = session;
  return {
    ...wire,
    status: 'complete',
    payment_status: 'paid',
    customer: ids.customer ?? session.customer ?? id('cus'),
    payment_intent: session.mode === 'payment' ? (ids.paymentIntent ?? id('pi')) : null,
    subscription: session.mode === 'subscription' ? (ids.subscription ?? id('sub')) : null,
  };
}

/** A charge after a (partial or full) refund; `amount_refunded` is cumulative, as in Stripe. */
export function refundedCharge(input: {
  paymentIntent: string;
  amount: number;
  amountRefunded: number;
}): Record<string, unknown> {
  return {
    id: id('ch'),
    object: 'charge',
    amount: input.amount,
    amount_refunded: input.amountRefunded,
    currency: 'usd',
    payment_intent: input.paymentIntent,
    refunded: input.amountRefunded >= input.amount,
    status: 'succeeded',
  };
}

/** A paid subscription invoice (API 2025-03+ shape: parent.subscription_details, payments). */
export function paidInvoice(input: {
  subscription: string;
  customer: string;
  metadata: Record<string, string>;
  paymentIntent?: string;
  amountPaid: number;
}): Record<string, unknown> {
  return {
    id: id('in'),
    object: 'invoice',
    customer: input.customer,
    status: 'paid',
    amount_paid: input.amountPaid,
    billing_reason: 'subscription_cycle',
    metadata: {},
    parent: {
      type: 'subscription_details',
      subscription_details: { subscription: input.subscription, metadata: input.metadata },
    },
    payments: {
      object: 'list',
      data: [
        {
          object: 'invoice_payment',
          payment: { type: 'payment_intent', payment_intent: input.paymentIntent ?? id('pi') },
        },
      ],
    },
  };
}

/** A subscription object as `customer.subscription.*` events carry it. */
export function subscriptionObject(input: {
  id: string;
  customer: string;
  status: string;
  metadata: Record<string, string>;
  /** The monthly price of its one item, in cents. */
  unitAmount: number;
}): Record<string, unknown> {
  return {
    id: input.id,
    object: 'subscription',
    customer: input.customer,
    status: input.status,
    metadata: input.metadata,
    cancel_at_period_end: false,
    items: {
      object: 'list',
      data: [
        {
          id: id('si'),
          object: 'subscription_item',
          quantity: 1,
          price: {
            id: id('price'),
            object: 'price',
            currency: 'usd',
            unit_amount: input.unitAmount,
            recurring: { interval: 'month', interval_count: 1 },
          },
        },
      ],
    },
  };
}
