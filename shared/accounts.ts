import { z } from 'zod';
import { text } from './text.ts';

/** Emails are compared trimmed and lower-cased, so `A@x.io` and `a@x.io ` are one account. */
export const emailSchema = text()
  .trim()
  .max(254)
  .pipe(z.email())
  .transform((email) => email.toLowerCase());

/** NIST 800-63B: length over composition rules; 128 bounds the hashing work per request. */
export const passwordSchema = text().min(8, 'must be at least 8 characters').max(128);

export const signupBodySchema = z
  .strictObject({
    email: emailSchema,
    password: passwordSchema,
    name: text().trim().min(1).max(100),
  })
  .meta({ id: 'SignupBody' });

export const loginBodySchema = z
  .strictObject({
    email: emailSchema,
    password: text().min(1).max(128),
  })
  .meta({ id: 'LoginBody' });

export const refreshBodySchema = z
  .strictObject({ refreshToken: text().min(20).max(200) })
  .meta({ id: 'RefreshBody' });

export const userSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof userSchema>;

export const sessionSchema = z
  .object({
    user: userSchema,
    accessToken: z.string(),
    refreshToken: z.string(),
    /** Seconds until the access token expires. */
    expiresIn: z.number().int(),
  })
  .meta({ id: 'Session' });
export type Session = z.infer<typeof sessionSchema>;

export const tokenPairSchema = sessionSchema.omit({ user: true }).meta({ id: 'TokenPair' });
