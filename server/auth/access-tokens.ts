import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';

/** 15 minutes: short enough that a leaked token is of little use, long enough to be cheap. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;

const ALGORITHM = 'HS256';
const ISSUER = 'reelroom';
const AUDIENCE = 'reelroom-api';

export interface AccessClaims {
  userId: string;
}

/**
 * Signs and verifies access tokens (JWT). The algorithm, issuer and audience are pinned on
 * both sides, so a token signed with `none` or for another audience never verifies.
 */
export class AccessTokens {
  readonly #key: Uint8Array;
  /**
   * Tokens already verified, until they expire. Verifying an HMAC through WebCrypto costs
   * ~50-100 µs, more than the rest of a typical request; a client sends the same token for
   * 15 minutes. Only tokens that passed full verification are ever stored.
   */
  readonly #verified = new LRUCache<string, AccessClaims & { expiresAtMs: number }>({
    max: 10_000,
  });

  constructor(secret: string) {
    if (secret.length < 32) throw new Error('AccessTokens: secret must be at least 32 characters');
    this.#key = new TextEncoder().encode(secret);
  }

  sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
      .sign(this.#key);
  }

  /** The claims of a valid token, or `undefined` for anything else (expired, forged, garbage). */
  async verify(token: string): Promise<AccessClaims | undefined> {
    const cached = this.#verified.get(token);
    if (cached) {
      if (cached.expiresAtMs > Date.now()) return { userId: cached.userId };
      this.#verified.delete(token);
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      if (!payload.sub || payload.exp === undefined) return undefined;
      this.#verified.set(token, { userId: payload.sub, expiresAtMs: payload.exp * 1000 });
      return { userId: payload.sub };
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }
}
