import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OPERATIONS, type Operation, type PriceUnit } from '../../shared/billing.ts';

export interface OperationPrice {
  credits: number;
  per: PriceUnit;
}

/** A one-time credit package (Stripe Checkout, mode payment). */
export interface PackageSettings {
  id: string;
  name: string;
  credits: number;
  priceUsd: number;
}

/** A monthly subscription plan (Stripe Checkout, mode subscription); each paid invoice adds `monthlyCredits`. */
export interface PlanSettings {
  id: string;
  name: string;
  monthlyCredits: number;
  priceUsd: number;
}

/** Every number billing uses. Defaults are the SPEC's; `BILLING_CONFIG` overrides any of them. */
export interface BillingSettings {
  prices: Record<Operation, OperationPrice>;
  packages: PackageSettings[];
  plans: PlanSettings[];
  /** Credits the first workspace gets at signup. */
  signupCredits: number;
  /** Credits of the daily login bonus. */
  dailyBonusCredits: number;
  /** Minimum time between two login bonuses of one user. */
  dailyBonusIntervalHours: number;
}

export const DEFAULT_BILLING_SETTINGS: BillingSettings = {
  prices: {
    script: { credits: 10, per: 'call' },
    voiceover: { credits: 15, per: 'started_minute' },
    render: { credits: 40, per: 'started_minute' },
    publish: { credits: 5, per: 'call' },
  },
  packages: [
    { id: 'starter', name: 'Starter', credits: 100, priceUsd: 5 },
    { id: 'basic', name: 'Basic', credits: 250, priceUsd: 10 },
    { id: 'professional', name: 'Professional', credits: 500, priceUsd: 18 },
    { id: 'enterprise', name: 'Enterprise', credits: 1000, priceUsd: 30 },
  ],
  // The seeds name Basic and Pro plans without numbers; these are priced a little under the
  // matching one-time packages so that subscribing is worth it.
  plans: [
    { id: 'basic-monthly', name: 'Basic plan', monthlyCredits: 300, priceUsd: 10 },
    { id: 'pro-monthly', name: 'Pro plan', monthlyCredits: 1200, priceUsd: 30 },
  ],
  signupCredits: 50,
  dailyBonusCredits: 10,
  dailyBonusIntervalHours: 24,
};

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');
const credits = z.number().int().min(0).max(1_000_000);
const usd = z.number().positive().max(100_000).multipleOf(0.01);

const overridesSchema = z
  .strictObject({
    prices: z
      .strictObject(
        Object.fromEntries(
          OPERATIONS.map((operation) => [
            operation,
            z
              .strictObject({ credits, per: z.enum(['call', 'started_minute']).optional() })
              .optional(),
          ]),
        ),
      )
      .optional(),
    packages: z
      .array(z.strictObject({ id, name: z.string().min(1).max(100), credits, priceUsd: usd }))
      .min(1)
      .optional(),
    plans: z
      .array(
        z.strictObject({
          id,
          name: z.string().min(1).max(100),
          monthlyCredits: credits,
          priceUsd: usd,
        }),
      )
      .optional(),
    signupCredits: credits.optional(),
    dailyBonusCredits: credits.optional(),
    dailyBonusIntervalHours: z
      .number()
      .positive()
      .max(24 * 365)
      .optional(),
  })
  .superRefine((value, ctx) => {
    const ids = [...(value.packages ?? []), ...(value.plans ?? [])].map((item) => item.id);
    const duplicate = ids.find((item, index) => ids.indexOf(item) !== index);
    if (duplicate) ctx.addIssue({ code: 'custom', message: `duplicate package id '${duplicate}'` });
  });

/** Settings with `overrides` applied over the defaults; throws with the offending field named. */
export function resolveBillingSettings(overrides: unknown = {}): BillingSettings {
  const parsed = overridesSchema.safeParse(overrides);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue?.path.join('.') || 'settings'}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  const prices = { ...DEFAULT_BILLING_SETTINGS.prices };
  for (const operation of OPERATIONS) {
    const price = o.prices?.[operation];
    if (price)
      prices[operation] = { credits: price.credits, per: price.per ?? prices[operation].per };
  }
  const settings: BillingSettings = {
    prices,
    packages: o.packages ?? DEFAULT_BILLING_SETTINGS.packages,
    plans: o.plans ?? DEFAULT_BILLING_SETTINGS.plans,
    signupCredits: o.signupCredits ?? DEFAULT_BILLING_SETTINGS.signupCredits,
    dailyBonusCredits: o.dailyBonusCredits ?? DEFAULT_BILLING_SETTINGS.dailyBonusCredits,
    dailyBonusIntervalHours:
      o.dailyBonusIntervalHours ?? DEFAULT_BILLING_SETTINGS.dailyBonusIntervalHours,
  };
  const ids = [...settings.packages, ...settings.plans].map((item) => item.id);
  const duplicate = ids.find((item, index) => ids.indexOf(item) !== index);
  if (duplicate) throw new Error(`packages/plans: duplicate id '${duplicate}'`);
  return settings;
}

/**
 * Reads a JSON file of overrides (`BILLING_CONFIG`), e.g.
 * `{"prices": {"render": {"credits": 50}}, "signupCredits": 100}`. Absent: the defaults.
 */
export function readBillingSettings(file: string | undefined): BillingSettings {
  if (!file) return DEFAULT_BILLING_SETTINGS;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
  return resolveBillingSettings(json);
}
