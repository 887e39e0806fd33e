import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BillingRenderCharges,
  resolveBillingSettings,
  workerRenderCharges,
} from '../../server/billing/index.ts';
import { openDatabase, tables } from '../../server/db/index.ts';
import { openTestPostgres } from '../support/databases.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { billingOn, expectLedgerConsistent, ownerWithWorkspace } from './support/wallets.ts';

describe('render charges (the RenderCharges the render farm calls)', () => {
  let database: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    database = await openTestPostgres();
  });
  afterAll(() => database?.close());

  it('charges 40 per started minute once per render, refunds once, ignores renders never charged', async () => {
    const billing = billingOn(database.db, {
      settings: resolveBillingSettings({ signupCredits: 200 }),
    });
    const charges = new BillingRenderCharges(billing.service);
    const { userId, workspaceId } = await ownerWithWorkspace(database.db);
    await database.db.transaction((tx) =>
      billing.service.grantSignupCredits(tx, { userId, workspaceId }),
    );
    const render = { workspaceId, userId, renderId: crypto.randomUUID(), durationSec: 90 };
    const db = database.db;
    await Promise.all([
      db.transaction((tx) => charges.chargeForRender(tx, render)),
      db.transaction((tx) => charges.chargeForRender(tx, render)),
    ]);
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(120);

    await expect(
      db.transaction((tx) =>
        charges.chargeForRender(tx, { ...render, renderId: crypto.randomUUID(), durationSec: 240 }),
      ),
    ).rejects.toMatchObject({
      code: 'insufficient_credits',
      details: { balance: 120, price: 160 },
    });

    // A standalone worker's charges, on its own connection, refund what the API node charged.
    const workerDatabase = await openDatabase({ url: database.url, maxConnections: 2 });
    const worker = workerRenderCharges(workerDatabase.db, billing.service.settings);
    try {
      await Promise.all([
        workerDatabase.db.transaction((tx) =>
          worker.refundRender(tx, { renderId: render.renderId, reason: 'failed' }),
        ),
        db.transaction((tx) =>
          charges.refundRender(tx, { renderId: render.renderId, reason: 'failed' }),
        ),
        workerDatabase.db.transaction((tx) =>
          worker.refundRender(tx, { renderId: render.renderId, reason: 'cancelled' }),
        ),
      ]);
      await workerDatabase.db.transaction((tx) =>
        worker.refundRender(tx, { renderId: crypto.randomUUID(), reason: 'failed' }),
      );
    } finally {
      await workerDatabase.close();
    }
    expect((await billing.service.balanceOf(workspaceId)).balance).toBe(200);
    const entries = await database.db
      .select()
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.reference, render.renderId));
    expect(entries.map((e) => [e.kind, e.amount, e.units])).toEqual(
      expect.arrayContaining([
        ['charge', -80, 2],
        ['refund', 80, 2],
      ]),
    );
    expect(entries).toHaveLength(2);
    await expectLedgerConsistent(database.db, workspaceId);
  });
});

describe('renders through the API are charged at submit and refunded when they fail', () => {
  let node: TestNode;
  beforeAll(async () => {
    // In-process workers whose FFmpeg does not exist: every render fails.
    node = await startTestNode({
      config: { ffmpegPath: '/nonexistent/ffmpeg', ffprobePath: '/nonexistent/ffprobe' },
    });
  });
  afterAll(() => node?.close());

  it('a failed render is refunded; a render the wallet cannot pay is a 402 with balance and price', async () => {
    const owner = await node.signup();
    const { workspaces } = await (
      await node.request('/api/v1/workspaces', { token: owner.accessToken })
    ).json();
    const workspaceId = workspaces[0].id as string;
    const created = await node.request('/api/v1/projects', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, title: 'Ad', topic: 'billing' },
    });
    const projectId = (await created.json()).project.id as string;
    const scene = (durationSec: number) => ({
      text: 'Hello',
      durationSec,
      background: { type: 'color', color: '#112233' },
    });
    const spec = (scenes: unknown[]) => ({ width: 320, height: 240, fps: 24, scenes });

    // 3 started minutes: 120 credits, the wallet has 50.
    const tooLong = await node.request(`/api/v1/projects/${projectId}/renders`, {
      method: 'POST',
      token: owner.accessToken,
      json: { spec: spec([scene(120), scene(10)]) },
    });
    expect(tooLong.status).toBe(402);
    expect((await tooLong.json()).error).toMatchObject({
      code: 'insufficient_credits',
      details: { balance: 50, price: 120, operation: 'render', units: 3 },
    });

    const submitted = await node.request(`/api/v1/projects/${projectId}/renders`, {
      method: 'POST',
      token: owner.accessToken,
      json: { spec: spec([scene(1)]) },
    });
    expect(submitted.status).toBe(202);
    const renderId = (await submitted.json()).render.id as string;
    const balance = async () =>
      (await node.services.billing.service.balanceOf(workspaceId)).balance;
    // Charged by the time the 202 is sent; the refund of the failing render may come any moment.
    const [charge] = await node.database.db
      .select()
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.reference, renderId))
      .orderBy(tables.creditLedger.seq);
    expect([charge?.kind, charge?.amount]).toEqual(['charge', -40]);

    await vi.waitFor(
      async () => {
        const response = await node.request(`/api/v1/renders/${renderId}`, {
          token: owner.accessToken,
        });
        expect((await response.json()).render.status).toBe('failed');
        expect(await balance()).toBe(50);
      },
      { timeout: 60_000, interval: 200 },
    );
    const entries = await node.database.db
      .select()
      .from(tables.creditLedger)
      .where(eq(tables.creditLedger.reference, renderId))
      .orderBy(tables.creditLedger.seq);
    expect(entries.map((e) => [e.kind, e.amount])).toEqual([
      ['charge', -40],
      ['refund', 40],
    ]);
    expect(entries[1]!.description).toMatch(/render failed/);
    await expectLedgerConsistent(node.database.db, workspaceId);
  });
});
