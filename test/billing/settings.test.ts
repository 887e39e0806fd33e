import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BILLING_SETTINGS, resolveBillingSettings } from '../../server/billing/index.ts';
import { loadConfig } from '../../server/config.ts';

describe('billing settings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'reelroom-billing-settings-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const env = (extra: Record<string, string>) => ({ DATA_DIR: dir, ...extra });

  it("defaults to the SPEC's prices, packages and grants", () => {
    const config = loadConfig(env({}));
    expect(config.billing).toEqual(DEFAULT_BILLING_SETTINGS);
    expect(config.billing.prices).toEqual({
      script: { credits: 10, per: 'call' },
      voiceover: { credits: 15, per: 'started_minute' },
      render: { credits: 40, per: 'started_minute' },
      publish: { credits: 5, per: 'call' },
    });
    expect(config.billing.packages.map((p) => [p.id, p.credits, p.priceUsd])).toEqual([
      ['starter', 100, 5],
      ['basic', 250, 10],
      ['professional', 500, 18],
      ['enterprise', 1000, 30],
    ]);
    expect([config.billing.signupCredits, config.billing.dailyBonusCredits]).toEqual([50, 10]);
  });

  it('BILLING_CONFIG overrides any number; a bad file stops start-up naming the variable', async () => {
    const good = path.join(dir, 'good.json');
    await writeFile(
      good,
      JSON.stringify({ prices: { render: { credits: 50 } }, signupCredits: 75 }),
    );
    const config = loadConfig(env({ BILLING_CONFIG: good }));
    expect(config.billing.prices.render).toEqual({ credits: 50, per: 'started_minute' });
    expect(config.billing.prices.script.credits).toBe(10);
    expect(config.billing.signupCredits).toBe(75);

    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ prices: { render: { credits: -1 } } }));
    expect(() => loadConfig(env({ BILLING_CONFIG: bad }))).toThrow(
      /^Invalid configuration: BILLING_CONFIG: prices\.render\.credits: /,
    );
    expect(() => loadConfig(env({ BILLING_CONFIG: path.join(dir, 'missing.json') }))).toThrow(
      /^Invalid configuration: BILLING_CONFIG: cannot read /,
    );
  });

  it('refuses duplicate package ids and unknown fields', () => {
    expect(() =>
      resolveBillingSettings({
        packages: [
          { id: 'a', name: 'A', credits: 1, priceUsd: 1 },
          { id: 'a', name: 'B', credits: 2, priceUsd: 2 },
        ],
      }),
    ).toThrow(/duplicate/);
    expect(() => resolveBillingSettings({ price: {} })).toThrow(/price/);
  });
});
