import type { AccountHooks } from '../auth/account-service.ts';
import type { BillingService } from './billing-service.ts';

/**
 * The account events billing grants credits on: the welcome credits inside the signup
 * transaction (a signup without them does not commit), and the daily bonus after a login.
 */
export function billingAccountHooks(billing: BillingService): AccountHooks {
  return {
    afterSignup: (tx, event) => billing.grantSignupCredits(tx, event),
    afterLogin: async (event) => {
      await billing.grantLoginBonus(event.userId);
    },
  };
}
