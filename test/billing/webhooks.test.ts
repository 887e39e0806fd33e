import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, tables } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { openTestPostgres } from '../support/databases.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import {
  completedSession,
  FakeStripe,
  paidInvoice,
  refundedCharge,
  signEvent,
  stripeEvent,
  subscriptionObject,
} from './support/fake-stripe.ts';
import { expectLedgerConsistent } from './support/wallets.ts';

const WEBHOOK_SECRET = 'whsec_test_reelroom';

describe.each(['postgres', 'pglite'] as const)('Stripe webhooks on %s', (backend) => {
  let node: TestNode;
  let stripe: FakeStripe;
  beforeAll(async () => {
    stripe = await FakeStripe.start();
    node = await startTestNode({
      database: backend,
      config: {
        stripe: {
          secretKey: stripe.secretKey,
          webhookSecret: WEBHOOK_SECRET,
          apiBase: stripe.apiBase,
        },
      },
    });
  });
  afterAll(async () => {
    await node?.close();
    await stripe?.close();
  });

  /** Posts a signed delivery; waits until this node has applied what it stored. */
  async function deliver(
    event: Record<string, unknown>,
    sign: { secret?: string; timestamp?: number; body?: string } = {},
  ) {
    const signed = signEvent(event, sign.secret ?? WEBHOOK_SECRET, sign);
    const response = await node.request('/api/v1/billing/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signed.signature },
      body: sign.body ?? signed.body,
    });
    return response;
  }
  const settled = () => node.services.billing.webhooks.idle();

  /** A user, their workspace, and a Checkout Session for `packageId` made through our API. */
  async function checkout(packageId: string, owner?: Session) {
    const user = owner ?? (await node.signup());
    const list = await node.request('/api/v1/workspaces', { token: user.accessToken });
    const workspaceId = (await list.json()).workspaces[0].id as string;
    const response = await node.request('/api/v1/billing/checkout', {
      method: 'POST',
      token: user.accessToken,
      json: { workspaceId, packageId },
    });
    expect(response.status).toBe(200);
    const { sessionId } = await response.json();
    return { user, workspaceId, session: stripe.sessions.get(sessionId)! };
  }

  const balanceOf = (workspaceId: string) => node.services.billing.service.balanceOf(workspaceId);
  const entriesOf = (workspaceId: string) =>
    node.database.db
      .select()
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.workspaceId, workspaceId))
      .orderBy(tables.creditLedger.seq);

  it('one event replayed 100 times concurrently makes one ledger entry', async () => {
    const { workspaceId, session } = await checkout('starter');
    const event = stripeEvent('checkout.session.completed', completedSession(session));
    const responses = await Promise.all(Array.from({ length: 100 }, () => deliver(event)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const acks = await Promise.all(responses.map((r) => r.json()));
    expect(acks.filter((ack) => ack.duplicate === false)).toHaveLength(1);
    await settled();
    // Late copies, after processing, change nothing either.
    for (let i = 0; i < 3; i++) expect((await deliver(event)).status).toBe(200);
    await settled();
    const purchases = (await entriesOf(workspaceId)).filter((e) => e.kind === 'purchase');
    expect(purchases).toEqual([
      expect.objectContaining({
        amount: 100,
        reference: session.id,
        userId: session.metadata.userId,
      }),
    ]);
    expect((await balanceOf(workspaceId)).balance).toBe(150);
    const [stored] = await node.database.db
      .select()
      .from(tables.stripeEvents)
      .where(eq(tables.stripeEvents.id, event.id as string));
    expect(stored).toMatchObject({ outcome: 'applied', attempts: 1, workspaceId });
    await expectLedgerConsistent(node.database.db, workspaceId);
  });

  it('a tampered body, a wrong secret or a timestamp older than 300 s gets 400 and writes nothing', async () => {
    const { workspaceId, session } = await checkout('basic');
    const event = stripeEvent('checkout.session.completed', completedSession(session));
    const eventsBefore = await node.database.db.$count(tables.stripeEvents);
    const signed = signEvent(event, WEBHOOK_SECRET);
    const tampered = signed.body.replace('"payment_status": "paid"', '"payment_status": "paid" ');
    const attempts = [
      await deliver(event, { body: tampered }),
      await deliver(event, { secret: 'whsec_wrong' }),
      await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
      await node.request('/api/v1/billing/webhook', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: signed.body,
      }),
    ];
    for (const response of attempts) {
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('invalid_signature');
    }
    await settled();
    expect(await node.database.db.$count(tables.stripeEvents)).toBe(eventsBefore);
    expect((await balanceOf(workspaceId)).balance).toBe(50);
    // The untouched delivery, signed 299 s ago, is accepted.
    const fresh = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 299 });
    expect(fresh.status).toBe(200);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(300);
  });

  it('a refund that arrives before its checkout event ends with the right balance', async () => {
    const { workspaceId, session } = await checkout('professional');
    const paid = completedSession(session);
    const refund = stripeEvent(
      'charge.refunded',
      refundedCharge({
        paymentIntent: paid.payment_intent as string,
        amount: 1800,
        amountRefunded: 1800,
      }),
    );
    expect((await deliver(refund)).status).toBe(200);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(50);
    expect((await deliver(stripeEvent('checkout.session.completed', paid))).status).toBe(200);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(50);
    expect((await entriesOf(workspaceId)).map((e) => [e.kind, e.amount])).toEqual([
      ['signup_bonus', 50],
      ['purchase', 500],
      ['payment_refund', -500],
    ]);
    // The refund replayed later changes nothing.
    await deliver(refund);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(50);
    await expectLedgerConsistent(node.database.db, workspaceId);
  });

  it('partial refunds in any order take back their share once; spent credits are recorded and flagged', async () => {
    const { user, workspaceId, session } = await checkout('starter');
    const paid = completedSession(session);
    const pi = paid.payment_intent as string;
    await deliver(stripeEvent('checkout.session.completed', paid));
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(150);

    // Half refunded: 50 of the 100 credits go back to Stripe's side.
    const half = stripeEvent(
      'charge.refunded',
      refundedCharge({ paymentIntent: pi, amount: 500, amountRefunded: 250 }),
    );
    await deliver(half);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(100);

    // The team spends 80 of the remaining 100 ...
    await node.services.billing.service.charge({
      workspaceId,
      userId: user.user.id,
      operation: 'render',
      durationSec: 100,
      reference: 'render-x',
      idempotencyKey: 'render:render-x',
    });
    expect((await balanceOf(workspaceId)).balance).toBe(20);

    // ... then the rest is refunded: 50 more are due, 20 can be taken back, 30 were spent.
    const full = stripeEvent(
      'charge.refunded',
      refundedCharge({ paymentIntent: pi, amount: 500, amountRefunded: 500 }),
    );
    await deliver(full);
    await deliver(half); // a late copy of the first refund: cumulative amounts make it a no-op
    await settled();
    expect(await balanceOf(workspaceId)).toMatchObject({
      balance: 0,
      flagged: true,
      unrecoveredCredits: 30,
    });
    const [payment] = await node.database.db
      .select()
      .from(tables.stripePayments)
      .where(eq(tables.stripePayments.paymentKey, pi));
    expect(payment).toMatchObject({
      credits: 100,
      creditsReversed: 70,
      creditsUnrecovered: 30,
      refundedCents: 500,
    });
    // Never below zero: a refund never posts more than the balance.
    await expectLedgerConsistent(node.database.db, workspaceId);
  });

  it('subscriptions: checkout sets the plan, each paid invoice adds its credits once, updates and deletion change the plan', async () => {
    const { user, workspaceId, session } = await checkout('basic-monthly');
    const done = completedSession(session);
    const subscriptionId = done.subscription as string;
    const customer = done.customer as string;
    const metadata = session.subscription_data!.metadata!;
    const t0 = Math.floor(Date.now() / 1000);

    // Stripe often sends the first invoice before the checkout event.
    const invoice = stripeEvent(
      'invoice.paid',
      paidInvoice({ subscription: subscriptionId, customer, metadata, amountPaid: 1000 }),
      { created: t0 },
    );
    await deliver(invoice);
    await deliver(stripeEvent('checkout.session.completed', done, { created: t0 }));
    await deliver(invoice);
    await settled();
    expect(await balanceOf(workspaceId)).toMatchObject({
      balance: 350,
      plan: { id: 'basic-monthly', status: 'active', monthlyCredits: 300 },
    });
    // A second plan while one is live: refused.
    const second = await node.request('/api/v1/billing/checkout', {
      method: 'POST',
      token: user.accessToken,
      json: { workspaceId, packageId: 'pro-monthly' },
    });
    expect(second.status).toBe(409);
    expect((await second.json()).error.code).toBe('already_subscribed');

    // Next month's invoice, with no metadata: found by the subscription id.
    await deliver(
      stripeEvent(
        'invoice.paid',
        paidInvoice({ subscription: subscriptionId, customer, metadata: {}, amountPaid: 1000 }),
      ),
    );
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(650);

    const updated = (status: string, created: number, unitAmount = 3000) =>
      stripeEvent(
        'customer.subscription.updated',
        subscriptionObject({ id: subscriptionId, customer, status, metadata, unitAmount }),
        { created },
      );
    // Upgraded to Pro ($30) in Stripe's portal: the metadata still says basic-monthly.
    await deliver(updated('active', t0 + 5));
    await settled();
    expect((await balanceOf(workspaceId)).plan).toMatchObject({
      id: 'pro-monthly',
      monthlyCredits: 1200,
    });
    await deliver(
      stripeEvent(
        'invoice.paid',
        paidInvoice({ subscription: subscriptionId, customer, metadata, amountPaid: 3000 }),
      ),
    );
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(1850);

    await deliver(updated('past_due', t0 + 10));
    await settled();
    expect((await balanceOf(workspaceId)).plan).toMatchObject({
      id: 'pro-monthly',
      status: 'past_due',
    });

    await deliver(
      stripeEvent(
        'customer.subscription.deleted',
        subscriptionObject({
          id: subscriptionId,
          customer,
          status: 'canceled',
          metadata,
          unitAmount: 3000,
        }),
        { created: t0 + 20 },
      ),
    );
    // An update sent before the deletion but delivered after it: stale, ignored.
    await deliver(updated('active', t0 + 15));
    await settled();
    expect((await balanceOf(workspaceId)).plan).toBeNull();
    const [wallet] = await node.database.db
      .select()
      .from(tables.wallets)
      .where(eq(tables.wallets.workspaceId, workspaceId));
    expect(wallet).toMatchObject({
      planStatus: 'canceled',
      stripeSubscriptionId: subscriptionId,
      stripeCustomerId: customer,
    });
    // Credits already granted stay.
    expect((await balanceOf(workspaceId)).balance).toBe(1850);
    await expectLedgerConsistent(node.database.db, workspaceId);
  });

  it('a failing event does not hold back the others; it stays pending and is retried', async () => {
    const { workspaceId, session } = await checkout('starter');
    // Signed, so accepted, but not a checkout session our handler can read.
    const broken = stripeEvent('checkout.session.completed', {
      id: 'cs_broken',
      object: 'checkout.session',
    });
    const good = stripeEvent('checkout.session.completed', completedSession(session));
    const [first, second] = await Promise.all([deliver(broken), deliver(good)]);
    expect([first.status, second.status]).toEqual([200, 200]);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(150);
    const [stored] = await node.database.db
      .select()
      .from(tables.stripeEvents)
      .where(eq(tables.stripeEvents.id, broken.id as string));
    expect(stored).toMatchObject({ processedAt: null, attempts: 1, lastError: expect.any(String) });
    expect(stored!.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('an event stored but not processed (a crash after the acknowledgement) is applied by the sweep', async () => {
    const { workspaceId, session } = await checkout('starter');
    const event = stripeEvent('checkout.session.completed', completedSession(session));
    const now = new Date();
    await node.database.db.insert(tables.stripeEvents).values({
      id: event.id as string,
      type: event.type as string,
      payload: event,
      createdAt: now,
      receivedAt: now,
      nextAttemptAt: new Date(now.getTime() - 1000),
    });
    await node.services.billing.webhooks.sweep();
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(150);
    // Stripe retrying the delivery later changes nothing.
    await deliver(event);
    await settled();
    expect((await balanceOf(workspaceId)).balance).toBe(150);
  });

  it('acknowledges other event types with 200 and ignores them', async () => {
    const event = stripeEvent('customer.created', { id: 'cus_test_1', object: 'customer' });
    const response = await deliver(event);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, duplicate: false });
    const [stored] = await node.database.db
      .select()
      .from(tables.stripeEvents)
      .where(eq(tables.stripeEvents.id, event.id as string));
    expect(stored).toMatchObject({ outcome: 'ignored', processedAt: expect.any(Date) });
  });
});

describe('Stripe webhooks on two API nodes sharing one Postgres', () => {
  let database: Awaited<ReturnType<typeof openTestPostgres>>;
  let second: Database;
  let nodes: TestNode[] = [];
  let stripe: FakeStripe;
  beforeAll(async () => {
    stripe = await FakeStripe.start();
    database = await openTestPostgres();
    second = await openDatabase({ url: database.url, maxConnections: 10 });
    // One JWT secret, as nodes behind one load balancer share it.
    const config = {
      jwtSecret: 'a-jwt-secret-both-nodes-share-0123456789',
      stripe: {
        secretKey: stripe.secretKey,
        webhookSecret: WEBHOOK_SECRET,
        apiBase: stripe.apiBase,
      },
    };
    nodes = [
      await startTestNode({ database, config }),
      await startTestNode({ database: second, config }),
    ];
  });
  afterAll(async () => {
    for (const node of nodes) await node.close();
    await second?.close();
    await database?.close();
    await stripe?.close();
  });

  it('the same event delivered to both nodes at once takes effect once', async () => {
    const [a, b] = nodes as [TestNode, TestNode];
    const owner = await a.signup();
    const list = await a.request('/api/v1/workspaces', { token: owner.accessToken });
    const workspaceId = (await list.json()).workspaces[0].id as string;
    const response = await b.request('/api/v1/billing/checkout', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, packageId: 'enterprise' },
    });
    const session = stripe.sessions.get((await response.json()).sessionId)!;
    const paid = completedSession(session);
    const events = [
      stripeEvent('checkout.session.completed', paid),
      // Its refund, also twice on each node, possibly before the payment.
      stripeEvent(
        'charge.refunded',
        refundedCharge({
          paymentIntent: paid.payment_intent as string,
          amount: 3000,
          amountRefunded: 1500,
        }),
      ),
    ];
    const deliveries = events.flatMap((event) => {
      const signed = signEvent(event, WEBHOOK_SECRET);
      return Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).request('/api/v1/billing/webhook', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': signed.signature },
          body: signed.body,
        }),
      );
    });
    const statuses = (await Promise.all(deliveries)).map((r) => r.status);
    expect(statuses).toEqual(Array(40).fill(200));
    await Promise.all(nodes.map((node) => node.services.billing.webhooks.idle()));
    // 50 signup + 1000 bought - 500 refunded (half the payment).
    expect((await a.services.billing.service.balanceOf(workspaceId)).balance).toBe(550);
    const entries = await database.db
      .select({ kind: tables.creditLedger.kind, amount: tables.creditLedger.amount })
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.workspaceId, workspaceId))
      .orderBy(tables.creditLedger.seq);
    expect(entries).toEqual([
      { kind: 'signup_bonus', amount: 50 },
      { kind: 'purchase', amount: 1000 },
      { kind: 'payment_refund', amount: -500 },
    ]);
    await expectLedgerConsistent(database.db, workspaceId);
  });
});
