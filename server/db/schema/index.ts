// The full database schema: one file per domain, all re-exported for drizzle and drizzle-kit.
export * from './accounts.ts';
export * from './billing.ts';
export * from './coach.ts';
export * from './outbox.ts';
export * from './pipeline.ts';
export * from './renders.ts';
export * from './workspaces.ts';
export * from './yjs.ts';
export * from './youtube.ts';
