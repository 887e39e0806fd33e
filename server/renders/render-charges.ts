import type { Tx } from '../db/index.ts';

/**
 * How renders are paid for, inside the transaction of the transition they follow: the charge
 * commits with the render's row and its outbox entry at submit (a short wallet refuses the
 * render with 402 and nothing is stored), the refund with the render's final `failed` or
 * `cancelled` state, in whichever process writes that state. A crash can therefore never
 * leave a failed render charged, or a charge without its render. Billing implements it; a
 * node without billing passes nothing and renders are free.
 */
export interface RenderCharges {
  /**
   * Charges the workspace for a render of `durationSec` seconds (price per started minute).
   * Idempotent per `renderId`. Throws the billing 402 error when the wallet is short.
   */
  chargeForRender(
    tx: Tx,
    input: { workspaceId: string; userId: string; renderId: string; durationSec: number },
  ): Promise<void>;
  /** Gives the render's charge back; idempotent, and a no-op for a render that was never charged. */
  refundRender(tx: Tx, input: { renderId: string; reason: 'failed' | 'cancelled' }): Promise<void>;
}
