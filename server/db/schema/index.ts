// The full database schema: one file per domain, all re-exported for drizzle and drizzle-kit.
export * from './accounts.ts';
export * from './workspaces.ts';
