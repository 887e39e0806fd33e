import type { Tx } from '../db/index.ts';
import type { RenderCharges } from '../renders/render-charges.ts';
import type { BillingService } from './billing-service.ts';

/** The idempotency key of a render's charge: one charge per render, however often submitted. */
export const renderChargeKey = (renderId: string) => `render:${renderId}`;

/**
 * Renders paid from the workspace wallet at the render price (default 40 credits per started
 * minute of output). The charge is keyed by render id, and the refund finds it by the same
 * id, so the worker that sees a render fail needs no workspace to give the credits back.
 */
export class BillingRenderCharges implements RenderCharges {
  constructor(private readonly billing: BillingService) {}

  async chargeForRender(
    tx: Tx,
    input: { workspaceId: string; userId: string; renderId: string; durationSec: number },
  ): Promise<void> {
    await this.billing.chargeIn(tx, {
      workspaceId: input.workspaceId,
      userId: input.userId,
      operation: 'render',
      durationSec: input.durationSec,
      reference: input.renderId,
      idempotencyKey: renderChargeKey(input.renderId),
    });
  }

  async refundRender(
    tx: Tx,
    input: { renderId: string; reason: 'failed' | 'cancelled' },
  ): Promise<void> {
    await this.billing.refundByReferenceIn(tx, {
      operation: 'render',
      reference: input.renderId,
      reason: `render ${input.reason}`,
    });
  }
}
