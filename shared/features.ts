import { z } from 'zod';

/**
 * What this server has configured, for a page that shows only the controls that can work:
 * "Continue with Google", the YouTube panel, credit packages with checkout. Public: the
 * sign-in page asks before anyone is signed in. Only booleans, never a key or an id.
 */
export const featuresSchema = z
  .object({
    /** Stripe Checkout (STRIPE_SECRET_KEY): buy packages; without it owners grant credits. */
    payments: z.boolean(),
    /** Sign in with Google (a Google OAuth client is configured). */
    googleSignIn: z.boolean(),
    /** Connecting YouTube channels and publishing to them. */
    youtube: z.boolean(),
  })
  .meta({ id: 'Features' });
export type Features = z.infer<typeof featuresSchema>;
