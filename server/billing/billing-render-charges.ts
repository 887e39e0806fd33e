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

  async chargeForRender(input: {
    workspaceId: string;
    userId: string;
    renderId: string;
    durationSec: number;
  }): Promise<void> {
    await this.billing.charge({
      workspaceId: input.workspaceId,
      userId: input.userId,
      operation: 'render',
      durationSec: input.durationSec,
      reference: input.renderId,
      idempotencyKey: renderChargeKey(input.renderId),
    });
  }

  async refundRender(input: { renderId: string; reason: 'failed' | 'cancelled' }): Promise<void> {
    await this.billing.refundByReference({
      operation: 'render',
      reference: input.renderId,
      reason: `render ${input.reason}`,
    });
  }
}
