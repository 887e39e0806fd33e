import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { FakeStripe } from './support/fake-stripe.ts';
import { expectLedgerConsistent } from './support/wallets.ts';

const password = 'correct horse battery';

async function firstWorkspaceId(node: TestNode, token: string): Promise<string> {
  const response = await node.request('/api/v1/workspaces', { token });
  const { workspaces } = (await response.json()) as { workspaces: Array<{ id: string }> };
  return workspaces[0]!.id;
}

describe.each(['pglite', 'postgres'] as const)('billing REST on %s', (backend) => {
  let node: TestNode;
  let stripe: FakeStripe;
  beforeAll(async () => {
    stripe = await FakeStripe.start();
    node = await startTestNode({
      database: backend,
      config: {
        stripe: {
          secretKey: stripe.secretKey,
          webhookSecret: 'whsec_test',
          apiBase: stripe.apiBase,
        },
      },
    });
  });
  afterAll(async () => {
    await node?.close();
    await stripe?.close();
  });

  it('lists the four packages, the Basic and Pro plans and the operation prices', async () => {
    const response = await node.request('/api/v1/billing/packages');
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.packages).toEqual([
      { id: 'starter', name: 'Starter', credits: 100, priceUsd: 5, kind: 'one_time' },
      { id: 'basic', name: 'Basic', credits: 250, priceUsd: 10, kind: 'one_time' },
      { id: 'professional', name: 'Professional', credits: 500, priceUsd: 18, kind: 'one_time' },
      { id: 'enterprise', name: 'Enterprise', credits: 1000, priceUsd: 30, kind: 'one_time' },
      expect.objectContaining({ id: 'basic-monthly', kind: 'subscription', interval: 'month' }),
      expect.objectContaining({ id: 'pro-monthly', kind: 'subscription', interval: 'month' }),
    ]);
    const doc = await (await node.request('/api/v1/openapi.json')).json();
    for (const route of ['packages', 'balance', 'transactions', 'checkout', 'webhook']) {
      expect(doc.paths).toHaveProperty(`/billing/${route}`);
    }
    expect(body.prices).toEqual([
      { operation: 'script', credits: 10, per: 'call' },
      { operation: 'voiceover', credits: 15, per: 'started_minute' },
      { operation: 'render', credits: 40, per: 'started_minute' },
      { operation: 'publish', credits: 5, per: 'call' },
    ]);
  });

  it('signup grants 50; racing logins add the daily 10 once; history is newest first and pages', async () => {
    const email = `${randomUUID()}@example.test`;
    const signup = await node.request('/api/v1/auth/signup', {
      method: 'POST',
      json: { email, password, name: 'Ada' },
    });
    const session = (await signup.json()) as Session;
    const workspaceId = await firstWorkspaceId(node, session.accessToken);
    const balance = async () => {
      const response = await node.request(`/api/v1/billing/balance?workspaceId=${workspaceId}`, {
        token: session.accessToken,
      });
      expect(response.status).toBe(200);
      return response.json();
    };
    expect(await balance()).toEqual({
      workspaceId,
      balance: 50,
      plan: null,
      flagged: false,
      unrecoveredCredits: 0,
    });

    const logins = await Promise.all(
      Array.from({ length: 6 }, () =>
        node.request('/api/v1/auth/login', { method: 'POST', json: { email, password } }),
      ),
    );
    expect(logins.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await balance()).balance).toBe(60);

    const first = await node.request(
      `/api/v1/billing/transactions?workspaceId=${workspaceId}&limit=1`,
      { token: session.accessToken },
    );
    const page1 = await first.json();
    expect(page1.transactions).toEqual([
      expect.objectContaining({
        kind: 'daily_bonus',
        amount: 10,
        balanceAfter: 60,
        userId: session.user.id,
      }),
    ]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const second = await node.request(
      `/api/v1/billing/transactions?workspaceId=${workspaceId}&limit=5&cursor=${page1.nextCursor}`,
      { token: session.accessToken },
    );
    const page2 = await second.json();
    expect(page2.transactions).toEqual([
      expect.objectContaining({ kind: 'signup_bonus', amount: 50, balanceAfter: 50 }),
    ]);
    expect(page2.nextCursor).toBeNull();
    const bad = await node.request(
      `/api/v1/billing/transactions?workspaceId=${workspaceId}&cursor=nonsense`,
      { token: session.accessToken },
    );
    expect(bad.status).toBe(400);
    await expectLedgerConsistent(node.database.db, workspaceId);
  });

  it('members read the wallet, only owners buy, and another workspace is a 404', async () => {
    const owner = await node.signup('Owner');
    const viewer = await node.signup('Viewer');
    const outsider = await node.signup('Outsider');
    const workspaceId = await firstWorkspaceId(node, owner.accessToken);
    const added = await node.request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: viewer.user.email, role: 'viewer' },
    });
    expect(added.status).toBe(201);

    const read = (token: string, what: 'balance' | 'transactions') =>
      node.request(`/api/v1/billing/${what}?workspaceId=${workspaceId}`, { token });
    expect((await read(viewer.accessToken, 'balance')).status).toBe(200);
    expect((await read(viewer.accessToken, 'transactions')).status).toBe(200);
    const hidden = await read(outsider.accessToken, 'balance');
    expect(hidden.status).toBe(404);
    expect((await hidden.json()).error.code).toBe('not_found');
    expect((await read(outsider.accessToken, 'transactions')).status).toBe(404);

    const buy = (token: string, packageId = 'starter') =>
      node.request('/api/v1/billing/checkout', {
        method: 'POST',
        token,
        json: { workspaceId, packageId },
      });
    expect((await buy(viewer.accessToken)).status).toBe(403);
    expect((await buy(outsider.accessToken)).status).toBe(404);
    expect((await buy(owner.accessToken, 'platinum')).status).toBe(404);
    const before = stripe.requests.length;
    const ok = await buy(owner.accessToken);
    expect(ok.status).toBe(200);
    const { url, sessionId } = await ok.json();
    expect(url).toBe(`https://checkout.stripe.com/c/pay/${sessionId}`);
    // What the stripe SDK sent to the (fake) Stripe API.
    expect(stripe.requests).toHaveLength(before + 1);
    const sent = stripe.requests.at(-1)!;
    expect(sent).toMatchObject({
      method: 'POST',
      path: '/v1/checkout/sessions',
      authorization: `Bearer ${stripe.secretKey}`,
      stripeVersion: expect.any(String),
    });
    expect(sent.body).toMatchObject({
      mode: 'payment',
      client_reference_id: workspaceId,
      metadata: { workspaceId, packageId: 'starter', userId: owner.user.id, credits: '100' },
      payment_intent_data: { metadata: { workspaceId, packageId: 'starter' } },
      line_items: [{ quantity: '1', price_data: { currency: 'usd', unit_amount: '500' } }],
    });

    const plan = await buy(owner.accessToken, 'pro-monthly');
    expect(plan.status).toBe(200);
    expect(stripe.requests.at(-1)!.body).toMatchObject({
      mode: 'subscription',
      subscription_data: { metadata: { workspaceId, packageId: 'pro-monthly' } },
      line_items: [{ price_data: { unit_amount: '3000', recurring: { interval: 'month' } } }],
    });

    stripe.failNextWith = 400;
    const failed = await buy(owner.accessToken);
    expect(failed.status).toBe(502);
    expect((await failed.json()).error.code).toBe('payment_provider_error');
  });

  it('validates input and names the field', async () => {
    const owner = await node.signup();
    const missing = await node.request('/api/v1/billing/balance', { token: owner.accessToken });
    expect(missing.status).toBe(400);
    expect((await missing.json()).error.message).toMatch(/workspaceId/);
    const badBody = await node.request('/api/v1/billing/checkout', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId: 'not-a-uuid', packageId: 'starter' },
    });
    expect(badBody.status).toBe(400);
    expect((await badBody.json()).error.message).toMatch(/workspaceId/);
    expect((await node.request('/api/v1/billing/balance?workspaceId=x')).status).toBe(401);
  });
});

describe('billing without Stripe configured', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(() => node?.close());

  it('checkout is a 503 that says why; the webhook too; credits still work', async () => {
    const owner = await node.signup();
    const workspaceId = await firstWorkspaceId(node, owner.accessToken);
    const checkout = await node.request('/api/v1/billing/checkout', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, packageId: 'starter' },
    });
    expect(checkout.status).toBe(503);
    const body = await checkout.json();
    expect(body.error.code).toBe('service_unavailable');
    expect(body.error.message).toMatch(/STRIPE_SECRET_KEY/);
    const webhook = await node.request('/api/v1/billing/webhook', {
      method: 'POST',
      headers: { 'stripe-signature': 't=1,v1=abc' },
      json: { id: 'evt_1' },
    });
    expect(webhook.status).toBe(503);
    expect((await webhook.json()).error.message).toMatch(/STRIPE_WEBHOOK_SECRET/);
    const balance = await node.request(`/api/v1/billing/balance?workspaceId=${workspaceId}`, {
      token: owner.accessToken,
    });
    expect((await balance.json()).balance).toBe(50);
  });
});
