import { errors, jwtVerify, SignJWT } from 'jose';

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
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      return payload.sub ? { userId: payload.sub } : undefined;
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }
}
