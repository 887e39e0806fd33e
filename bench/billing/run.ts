// bench/billing: two figures for the billing part.
//
// 1. Webhook acknowledgement: signed `checkout.session.completed` deliveries (each a new event
//    and payment, so every one is stored and then credited) at a fixed rate against an API node
//    on Postgres, and the trivial GET /health at the same rate at the same time, so both see the
//    same machine (the events' processing included). Open loop:
//    each request is sent on its schedule whatever the previous one did, and its latency counts
//    from when it was due, so a stall shows up in the percentiles.
//    Target: webhook p99 ≤ 50 ms and ≤ 1.5× the trivial route's p99 + 2 ms.
// 2. Concurrent charges per second on Postgres (BillingService, in this process): spread over
//    many wallets, and all on one hot wallet (serialised by its row lock).
//
//   npm run bench:billing [-- --seconds 10 --rate 100 --charges 4000 --concurrency 32 --sequential]
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Stripe from 'stripe';
import { resolveBillingSettings } from '../../server/billing/index.ts';
import { billingOn, ownerWithWorkspace } from '../../test/billing/support/wallets.ts';
import { openTestPostgres } from '../../test/support/databases.ts';
import { freePort, spawnEntry } from '../../test/support/processes.ts';
import { fmt } from '../support/measure.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '100' },
    charges: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
    /** Measure /health first and the webhook after it, instead of both at once. */
    sequential: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const WEBHOOK_SECRET = `whsec_${randomBytes(16).toString('hex')}`;

interface Latencies {
  p50: number;
  p99: number;
  max: number;
  count: number;
  failures: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function send(
  url: URL,
  init: { method: string; headers?: Record<string, string>; body?: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: init.method, headers: init.headers, agent },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(init.body);
  });
}

/** Sends `make()` at `rate` per second for `seconds`; latency from each request's due time. */
async function openLoop(
  make: () => { url: URL; method: string; headers?: Record<string, string>; body?: string },
  options: { rate: number; seconds: number },
): Promise<Latencies> {
  const total = Math.round(options.rate * options.seconds);
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  let failures = 0;
  const start = performance.now() + 20;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { url, ...init } = make();
    inFlight.push(
      send(url, init).then(
        (status) => {
          latencies.push(performance.now() - due);
          if (status !== 200) failures += 1;
        },
        () => {
          failures += 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: latencies.at(-1) ?? NaN,
    count: latencies.length,
    failures,
  };
}

async function webhookBench(): Promise<void> {
  const database = await openTestPostgres();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'reelroom-bench-billing-'));
  const port = await freePort();
  const node = await spawnEntry(
    'server/api-main.ts',
    {
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      JWT_SECRET: randomUUID() + randomUUID(),
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    },
    // Logs go to a file, as in production: read back here they would load this process.
    { url: `http://127.0.0.1:${port}`, stdoutFile: path.join(dataDir, 'api.log') },
  );
  try {
    const signup = await fetch(`${node.url}/api/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: `${randomUUID()}@bench.test`,
        password: 'correct horse battery',
        name: 'Bench',
      }),
    });
    const { accessToken, user } = (await signup.json()) as {
      accessToken: string;
      user: { id: string };
    };
    const workspaces = (await (
      await fetch(`${node.url}/api/v1/workspaces`, {
        headers: { authorization: `Bearer ${accessToken}` },
      })
    ).json()) as { workspaces: Array<{ id: string }> };
    const workspaceId = workspaces.workspaces[0]!.id;

    const health = new URL(`${node.url}/health`);
    const webhook = new URL(`${node.url}/api/v1/billing/webhook`);
    let n = 0;
    const delivery = () => {
      n += 1;
      const sessionId = `cs_bench_${n}_${randomBytes(4).toString('hex')}`;
      const body = JSON.stringify({
        id: `evt_bench_${n}_${randomBytes(6).toString('hex')}`,
        object: 'event',
        type: 'checkout.session.completed',
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        data: {
          object: {
            id: sessionId,
            object: 'checkout.session',
            mode: 'payment',
            payment_status: 'paid',
            client_reference_id: workspaceId,
            customer: 'cus_bench',
            payment_intent: `pi_bench_${n}_${randomBytes(4).toString('hex')}`,
            subscription: null,
            metadata: { workspaceId, packageId: 'starter', userId: user.id, credits: '100' },
          },
        },
      });
      const signature = Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret: WEBHOOK_SECRET,
      });
      return {
        url: webhook,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body,
      };
    };
    const trivial = () => ({ url: health, method: 'GET' });

    // Warm-up: JIT, connection pools, the first inserts.
    await openLoop(trivial, { rate, seconds: 2 });
    await openLoop(delivery, { rate, seconds: 2 });
    // Both at once, so both see the same machine: the webhook's background processing, and
    // whatever else runs on the box.
    const [healthFigures, webhookFigures] = values.sequential
      ? [await openLoop(trivial, { rate, seconds }), await openLoop(delivery, { rate, seconds })]
      : await Promise.all([
          openLoop(trivial, { rate, seconds }),
          openLoop(delivery, { rate, seconds }),
        ]);

    // Every acknowledged event is applied shortly after; check the credits arrived.
    const expected = 50 + 100 * n;
    let balance = 0;
    for (let i = 0; i < 100 && balance !== expected; i++) {
      const response = await fetch(
        `${node.url}/api/v1/billing/balance?workspaceId=${workspaceId}`,
        {
          headers: { authorization: `Bearer ${accessToken}` },
        },
      );
      balance = ((await response.json()) as { balance: number }).balance;
      if (balance !== expected) await new Promise((resolve) => setTimeout(resolve, 200));
    }

    console.log(
      `\nbench/billing webhook — ${rate} req/s each, ${values.sequential ? 'one after the other' : 'both at once'} for ${seconds}s, Postgres, open loop`,
    );
    console.log(
      'route'.padEnd(40),
      'sent'.padStart(6),
      'p50 ms'.padStart(8),
      'p99 ms'.padStart(8),
      'max ms'.padStart(8),
      'fail'.padStart(5),
    );
    for (const [name, f] of [
      ['GET /health', healthFigures],
      ['POST /api/v1/billing/webhook (signed)', webhookFigures],
    ] as const) {
      console.log(
        name.padEnd(40),
        String(f.count).padStart(6),
        fmt(f.p50).padStart(8),
        fmt(f.p99).padStart(8),
        fmt(f.max).padStart(8),
        String(f.failures).padStart(5),
      );
    }
    const limit = Math.min(50, 1.5 * healthFigures.p99 + 2);
    console.log(
      `\nwebhook p99 ${fmt(webhookFigures.p99)} ms; target ≤ min(50, 1.5 × ${fmt(healthFigures.p99)} + 2) = ${fmt(limit)} ms: ${webhookFigures.p99 <= limit ? 'met' : 'MISSED'}`,
    );
    console.log(
      `events applied: balance ${balance}, expected ${expected} (${balance === expected ? 'all credited once' : 'MISMATCH'})`,
    );
  } finally {
    await node.stop();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function chargesBench(): Promise<void> {
  const total = Number(values.charges);
  const concurrency = Number(values.concurrency);
  const database = await openTestPostgres();
  try {
    const billing = billingOn(database.db, {
      settings: resolveBillingSettings({ signupCredits: 1_000_000 }),
    });
    const wallets: Array<{ userId: string; workspaceId: string }> = [];
    for (let i = 0; i < 64; i++) {
      const owner = await ownerWithWorkspace(database.db);
      await database.db.transaction((tx) => billing.service.grantSignupCredits(tx, owner));
      wallets.push(owner);
    }
    const run = async (pick: (i: number) => { userId: string; workspaceId: string }) => {
      let next = 0;
      let refused = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) {
            const i = next++;
            const wallet = pick(i);
            try {
              await billing.service.charge({
                ...wallet,
                operation: 'script',
                reference: `bench-${i}`,
                idempotencyKey: `bench-${randomUUID()}`,
              });
            } catch {
              refused += 1;
            }
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      return { perSecond: total / elapsed, refused };
    };
    await run((i) => wallets[i % wallets.length]!); // warm-up
    const spread = await run((i) => wallets[i % wallets.length]!);
    const hot = await run(() => wallets[0]!);
    console.log(
      `\nbench/billing charges — ${total} charges, ${concurrency} concurrent, Postgres (pool 20)`,
    );
    console.log(
      `spread over ${wallets.length} wallets: ${fmt(spread.perSecond, 0)} charges/s (${spread.refused} refused)`,
    );
    console.log(
      `one hot wallet:           ${fmt(hot.perSecond, 0)} charges/s (${hot.refused} refused)`,
    );
  } finally {
    await database.close();
  }
}

await webhookBench();
await chargesBench();
agent.destroy();
