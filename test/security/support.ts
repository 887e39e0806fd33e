import { createHash } from 'node:crypto';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from '../../server/db/index.ts';
import { tables } from '../../server/db/index.ts';

/** Every table a request could write to; equal digests mean nothing was stored or changed. */
const WATCHED = [
  'users',
  'refreshTokens',
  'workspaces',
  'workspaceMembers',
  'workspaceInvitations',
  'projects',
  'assets',
  'renderJobs',
  'chatMessages',
  'creatorProfiles',
  'stripeEvents',
  'creditLedger',
  'wallets',
  'pipelineRuns',
  'pipelineSteps',
] as const;

/** A digest of every watched row, independent of row order. */
export async function storedDigest(db: Db): Promise<string> {
  const hash = createHash('sha256');
  const schema = tables as unknown as Record<string, PgTable | undefined>;
  for (const name of WATCHED) {
    // A table another part has not added yet is skipped.
    const table = schema[name];
    if (!table) continue;
    const rows = (await db.select().from(table)).map((row) => JSON.stringify(row)).sort();
    hash.update(`${name}:${rows.join('\n')}\n`);
  }
  return hash.digest('hex');
}

/**
 * Counts the cases a security test tried and those that held, keeps what broke, and prints
 * `[security] <name>: N tried, N held` so a run shows the figures.
 */
export class Tally {
  tried = 0;
  held = 0;
  readonly broken: string[] = [];

  constructor(readonly name: string) {}

  /** Records one case: `problem` is null when it held, else what went wrong. */
  record(label: string, problem: string | null): void {
    this.tried += 1;
    if (problem === null) this.held += 1;
    else this.broken.push(`${label}: ${problem}`);
  }

  report(): void {
    console.log(`[security] ${this.name}: ${this.tried} tried, ${this.held} held`);
  }
}
