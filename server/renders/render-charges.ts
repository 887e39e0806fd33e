/**
 * How renders are paid for. The render service charges when a render is submitted (a short
 * wallet refuses the render with 402 before anything is queued) and the render job store refunds
 * when a render ends `failed` or `cancelled`, in whichever process writes that final state.
 * Billing implements it; a node without billing passes nothing and renders are free.
 */
export interface RenderCharges {
  /**
   * Charges the workspace for a render of `durationSec` seconds (price per started minute).
   * Idempotent per `renderId`. Throws the billing 402 ApiError when the wallet is short.
   */
  chargeForRender(input: {
    workspaceId: string;
    userId: string;
    renderId: string;
    durationSec: number;
  }): Promise<void>;
  /** Gives the render's charge back; idempotent, and a no-op for a render that was never charged. */
  refundRender(input: { renderId: string; reason: 'failed' | 'cancelled' }): Promise<void>;
}
