import type { Db } from '../db/index.ts';
import type { RenderCharges } from '../renders/render-charges.ts';
import { WorkspaceService } from '../workspaces/workspace-service.ts';
import { BillingRenderCharges } from './billing-render-charges.ts';
import { BillingService } from './billing-service.ts';
import type { BillingSettings } from './billing-settings.ts';

/**
 * Render charges over a worker's own database handle: the worker refunds the renders it ends
 * as failed or cancelled in the same transaction as that final state, so it needs billing on
 * the connection its job store writes through, not a pool of its own.
 */
export function workerRenderCharges(db: Db, settings: BillingSettings): RenderCharges {
  return new BillingRenderCharges(
    new BillingService({ db, workspaces: new WorkspaceService(db), settings }),
  );
}
