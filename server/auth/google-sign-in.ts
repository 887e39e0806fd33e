import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, lt } from 'drizzle-orm';
import { CodeChallengeMethod, type OAuth2Client, type TokenPayload } from 'google-auth-library';
import type { Db } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { DomainError } from '../errors.ts';
import type { AccountService } from './account-service.ts';

const STATE_TTL_MS = 10 * 60_000;
const LOGIN_CODE_TTL_MS = 60_000;
const hash = (value: string) => createHash('sha256').update(value).digest('hex');

export interface GoogleSignInOptions {
  db: Db;
  accounts: AccountService;
  /** The OAuth client ID ID tokens must be issued to (the audience is pinned to it). */
  clientId: string;
  /** A fresh OAuth client of that ID, its endpoints on GOOGLE_API_BASE when set. */
  createClient: () => OAuth2Client;
  /** PUBLIC_URL without a trailing slash. */
  publicUrl: string;
}

/**
 * "Sign in with Google": the consent redirect with `state`, PKCE (S256) and a nonce; the
 * callback verifies the ID token (signature from Google's certs, audience pinned, issuer,
 * expiry, nonce), signs the user in through the account service and hands the web app a
 * single-use `loginCode` (60 s) in the URL fragment, exchanged for the usual token pair.
 */
export class GoogleSignIn {
  readonly redirectUri: string;
  readonly #o: GoogleSignInOptions;

  constructor(options: GoogleSignInOptions) {
    this.#o = options;
    this.redirectUri = `${options.publicUrl}/api/v1/auth/google/callback`;
  }

  async start(): Promise<string> {
    const client = this.#o.createClient();
    const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const now = new Date();
    await this.#o.db
      .delete(tables.googleSigninStates)
      .where(lt(tables.googleSigninStates.expiresAt, now));
    await this.#o.db.insert(tables.googleSigninStates).values({
      stateHash: hash(state),
      codeVerifier,
      nonce,
      expiresAt: new Date(now.getTime() + STATE_TTL_MS),
    });
    return client.generateAuthUrl({
      scope: ['openid', 'email', 'profile'],
      state,
      nonce,
      code_challenge: codeChallenge!,
      code_challenge_method: CodeChallengeMethod.S256,
      redirect_uri: this.redirectUri,
      prompt: 'select_account',
    });
  }

  /** Google's redirect: returns the URL of the web app carrying the `loginCode`. */
  async callback(code: string, state: string): Promise<string> {
    const [pending] = await this.#o.db
      .delete(tables.googleSigninStates)
      .where(eq(tables.googleSigninStates.stateHash, hash(state)))
      .returning();
    if (!pending || pending.expiresAt < new Date()) {
      throw new DomainError('invalid_state', 'state: unknown, used or expired; sign in again');
    }
    const client = this.#o.createClient();
    const { tokens } = await client.getToken({
      code,
      codeVerifier: pending.codeVerifier,
      redirect_uri: this.redirectUri,
    });
    if (!tokens.id_token) throw new DomainError('google_error', 'Google returned no ID token');
    let payload: TokenPayload | undefined;
    try {
      const ticket = await client.verifyIdToken({
        idToken: tokens.id_token,
        audience: this.#o.clientId,
      });
      payload = ticket.getPayload();
    } catch (error) {
      throw new DomainError('invalid_credentials', 'the ID token from Google is not valid', {
        cause: error,
      });
    }
    if (!payload?.sub || !payload.email || payload.nonce !== pending.nonce) {
      throw new DomainError('invalid_credentials', 'the ID token from Google is not valid');
    }
    const userId = await this.#o.accounts.signInWithGoogle({
      sub: payload.sub,
      email: payload.email.toLowerCase(),
      emailVerified: payload.email_verified === true,
      name: payload.name ?? '',
    });
    const loginCode = randomBytes(32).toString('base64url');
    await this.#o.db.insert(tables.googleLoginCodes).values({
      codeHash: hash(loginCode),
      userId,
      expiresAt: new Date(Date.now() + LOGIN_CODE_TTL_MS),
    });
    return `${this.#o.publicUrl}/#loginCode=${loginCode}`;
  }

  /** Trades a `loginCode` (once, within 60 s) for the user and a token pair. */
  async exchange(loginCode: string) {
    const t = tables.googleLoginCodes;
    await this.#o.db.delete(t).where(lt(t.expiresAt, new Date()));
    const [row] = await this.#o.db
      .delete(t)
      .where(and(eq(t.codeHash, hash(loginCode)), gt(t.expiresAt, new Date())))
      .returning();
    if (!row) throw new DomainError('invalid_credentials', 'loginCode: unknown, used or expired');
    return this.#o.accounts.sessionFor(row.userId);
  }
}
