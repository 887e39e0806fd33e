import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { DomainError, unauthorized } from '../errors.ts';

/** 7 days; every refresh replaces the token, so an active user never hits this. */
export const REFRESH_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const sha256 = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Opaque, rotating refresh tokens. Only hashes are stored. Each login starts a family; each
 * refresh uses up the presented token and issues its successor in the same family. A token
 * presented after it was used means someone else holds a copy, so the family is revoked and
 * both holders must log in again (OAuth 2.0 Security BCP, refresh token rotation).
 */
export class RefreshTokens {
  constructor(private readonly db: Db) {}

  /** Starts a new family for a fresh login. */
  issue(userId: string): Promise<string> {
    return this.#insert(this.db, userId, randomUUID());
  }

  /**
   * Uses up `token` and returns its successor with the owner. The `used_at IS NULL` guard
   * makes the use atomic: of two concurrent refreshes with one token exactly one wins, the
   * other counts as reuse.
   */
  async rotate(token: string): Promise<{ userId: string; refreshToken: string }> {
    // The transaction returns its outcome instead of throwing, so that a revocation made on
    // reuse is committed rather than rolled back with the error.
    const outcome = await this.db.transaction(async (tx) => {
      const [used] = await tx
        .update(tables.refreshTokens)
        .set({ usedAt: new Date() })
        .where(
          and(
            eq(tables.refreshTokens.tokenHash, sha256(token)),
            isNull(tables.refreshTokens.usedAt),
            isNull(tables.refreshTokens.revokedAt),
          ),
        )
        .returning();
      if (used) {
        if (used.expiresAt.getTime() <= Date.now()) return { kind: 'expired' } as const;
        const refreshToken = await this.#insert(tx, used.userId, used.familyId);
        return { kind: 'rotated', userId: used.userId, refreshToken } as const;
      }
      const [known] = await tx
        .select({ familyId: tables.refreshTokens.familyId })
        .from(tables.refreshTokens)
        .where(eq(tables.refreshTokens.tokenHash, sha256(token)));
      if (!known) return { kind: 'unknown' } as const;
      await this.#revoke(tx, known.familyId);
      return { kind: 'reused' } as const;
    });
    switch (outcome.kind) {
      case 'rotated':
        return { userId: outcome.userId, refreshToken: outcome.refreshToken };
      case 'reused':
        throw new DomainError(
          'token_reused',
          'Refresh token was already used; every session of this login is revoked',
        );
      case 'expired':
        throw unauthorized('Refresh token expired');
      case 'unknown':
        throw unauthorized('Unknown refresh token');
    }
  }

  /** Revokes the family `token` belongs to (logout). Unknown tokens are ignored. */
  async revokeFamily(token: string): Promise<void> {
    const [known] = await this.db
      .select({ familyId: tables.refreshTokens.familyId })
      .from(tables.refreshTokens)
      .where(eq(tables.refreshTokens.tokenHash, sha256(token)));
    if (known) await this.#revoke(this.db, known.familyId);
  }

  async #revoke(db: Db | Tx, familyId: string): Promise<void> {
    await db
      .update(tables.refreshTokens)
      .set({ revokedAt: new Date() })
      .where(
        and(eq(tables.refreshTokens.familyId, familyId), isNull(tables.refreshTokens.revokedAt)),
      );
  }

  async #insert(db: Db | Tx, userId: string, familyId: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await db.insert(tables.refreshTokens).values({
      id: randomUUID(),
      userId,
      familyId,
      tokenHash: sha256(token),
      expiresAt: new Date(Date.now() + REFRESH_TOKEN_TTL_MS),
    });
    return token;
  }
}
