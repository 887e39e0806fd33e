import { createRoute } from '@hono/zod-openapi';
import {
  balanceResponseSchema,
  checkoutBodySchema,
  checkoutResponseSchema,
  OPERATIONS,
  packagesResponseSchema,
  transactionsQuerySchema,
  transactionsResponseSchema,
  webhookAckSchema,
  workspaceQuerySchema,
} from '../../../shared/billing.ts';
import { errorBodySchema } from '../../../shared/errors.ts';
import { requireAuth } from '../middleware.ts';
import { bearerSecurity, commonErrors, createRouter, json, jsonBody } from '../route-helpers.ts';

const tags = ['Billing'];
const authed = { tags, security: bearerSecurity, middleware: requireAuth };

const packages = createRoute({
  tags,
  method: 'get',
  path: '/billing/packages',
  summary: 'Credit packages, subscription plans and the price of each paid operation',
  responses: { 200: json(packagesResponseSchema, 'Packages, plans and prices') },
});

const balance = createRoute({
  ...authed,
  method: 'get',
  path: '/billing/balance',
  summary: "The workspace's credit balance (members)",
  request: { query: workspaceQuerySchema },
  responses: { 200: json(balanceResponseSchema, 'The wallet'), ...commonErrors },
});

const transactions = createRoute({
  ...authed,
  method: 'get',
  path: '/billing/transactions',
  summary: "The workspace's ledger entries, newest first (members)",
  request: { query: transactionsQuerySchema },
  responses: { 200: json(transactionsResponseSchema, 'A page of entries'), ...commonErrors },
});

const checkout = createRoute({
  ...authed,
  method: 'post',
  path: '/billing/checkout',
  summary:
    'Start a Stripe Checkout for a package or plan (owners); returns the page to send the buyer to',
  request: { body: jsonBody(checkoutBodySchema) },
  responses: {
    200: json(checkoutResponseSchema, 'The Checkout Session'),
    409: json(errorBodySchema, 'The workspace already has a subscription'),
    502: json(errorBodySchema, 'Stripe refused or did not answer'),
    503: json(errorBodySchema, 'Payments are not configured (no STRIPE_SECRET_KEY)'),
    ...commonErrors,
  },
});

// No body schema on purpose: a validator would parse the JSON, and the signature is over the
// exact bytes Stripe sent.
const webhook = createRoute({
  tags,
  method: 'post',
  path: '/billing/webhook',
  summary:
    'Stripe webhook: the raw body signed in `stripe-signature` (300 s tolerance); each event id takes effect once',
  responses: {
    200: json(webhookAckSchema, 'Stored (or already stored); processed right after'),
    400: json(errorBodySchema, 'Bad or missing signature, stale timestamp, not an event'),
    503: json(errorBodySchema, 'Webhooks are not configured (no STRIPE_WEBHOOK_SECRET)'),
  },
});

export const billingRoutes = createRouter()
  .openapi(packages, (c) => {
    const { service } = c.var.services.billing;
    const prices = OPERATIONS.map((operation) => ({
      operation,
      ...service.settings.prices[operation],
    }));
    return c.json({ packages: service.listPackages(), prices }, 200);
  })
  .openapi(balance, async (c) => {
    const wallet = await c.var.services.billing.service.getBalance(
      c.var.userId,
      c.req.valid('query').workspaceId,
    );
    return c.json(wallet, 200);
  })
  .openapi(transactions, async (c) => {
    const { workspaceId, ...page } = c.req.valid('query');
    const result = await c.var.services.billing.service.listTransactions(
      c.var.userId,
      workspaceId,
      page,
    );
    return c.json(result, 200);
  })
  .openapi(checkout, async (c) => {
    const returnUrl = `${new URL(c.req.url).origin}/`;
    const session = await c.var.services.billing.startCheckout(
      c.var.userId,
      c.req.valid('json'),
      returnUrl,
    );
    return c.json(session, 200);
  })
  .openapi(webhook, async (c) => {
    const payload = new Uint8Array(await c.req.arrayBuffer());
    const result = await c.var.services.billing.webhooks.receive(
      payload,
      c.req.header('stripe-signature'),
    );
    return c.json({ received: true as const, duplicate: result.duplicate }, 200);
  });
