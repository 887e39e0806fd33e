import { openDatabase } from '../db/index.ts';
import type { RenderCharges } from '../renders/render-charges.ts';
import { WorkspaceService } from '../workspaces/workspace-service.ts';
import { BillingRenderCharges } from './billing-render-charges.ts';
import { BillingService } from './billing-service.ts';
import type { BillingSettings } from './billing-settings.ts';

/** Render charges with a connection pool of their own, and `close()` for it. */
export interface ClosableRenderCharges extends RenderCharges {
  close(): Promise<void>;
}

/**
 * Render charges for a standalone render worker, which refunds the renders it ends as failed
 * or cancelled. Two connections: refunds are rare and short, and they must not wait behind
 * the worker's own job writes.
 */
export async function openWorkerRenderCharges(options: {
  databaseUrl: string;
  settings: BillingSettings;
}): Promise<ClosableRenderCharges> {
  const database = await openDatabase({ url: options.databaseUrl, maxConnections: 2 });
  const charges = new BillingRenderCharges(
    new BillingService({
      db: database.db,
      workspaces: new WorkspaceService(database.db),
      settings: options.settings,
    }),
  );
  return {
    chargeForRender: (input) => charges.chargeForRender(input),
    refundRender: (input) => charges.refundRender(input),
    close: () => database.close(),
  };
}
