import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { User } from '../../shared/accounts.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { ApiError, notFound } from '../errors.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { ACCESS_TOKEN_TTL_SECONDS, type AccessTokens } from './access-tokens.ts';
import type { LoginLimiter } from './login-limiter.ts';
import { hashPassword, verifyPassword } from './password-hasher.ts';
import type { RefreshTokens } from './refresh-tokens.ts';

/** Hooks other parts (billing) attach to account events. A hook rejects by throwing. */
export interface AccountHooks {
  /** Runs inside the signup transaction, after the first workspace exists. */
  afterSignup?(tx: Tx, event: { userId: string; workspaceId: string }): Promise<void>;
  /** Runs after a successful login. Failures are logged, never fail the login. */
  afterLogin?(event: { userId: string }): Promise<void>;
}

export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

type UserRow = typeof tables.users.$inferSelect;

export function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, name: row.name, createdAt: row.createdAt.toISOString() };
}

/** Sign-up, login, token refresh and logout. */
export class AccountService {
  readonly #users = new LRUCache<string, User>({ max: 10_000, ttl: 30_000 });

  constructor(
    private readonly db: Db,
    private readonly accessTokens: AccessTokens,
    private readonly refreshTokens: RefreshTokens,
    private readonly limiter: LoginLimiter,
    private readonly workspaces: WorkspaceService,
    private readonly hooks: AccountHooks = {},
    private readonly onHookError: (error: unknown) => void = () => {},
  ) {}

  /** Creates the user and their first workspace in one transaction. Duplicate email: 409. */
  async signup(input: { email: string; password: string; name: string }) {
    const passwordHash = await hashPassword(input.password);
    const userId = randomUUID();
    const row = await this.db.transaction(async (tx) => {
      const [user] = await tx
        .insert(tables.users)
        .values({ id: userId, email: input.email, name: input.name, passwordHash })
        .onConflictDoNothing({ target: tables.users.email })
        .returning();
      if (!user)
        throw new ApiError(409, 'email_taken', 'An account with this email already exists');
      const workspace = await this.workspaces.create(tx, userId, `${input.name}'s workspace`);
      await this.hooks.afterSignup?.(tx, { userId, workspaceId: workspace.id });
      return user;
    });
    return { user: toUser(row), ...(await this.#startSession(row.id)) };
  }

  /** Same error for an unknown email and a wrong password; both paths hash once. */
  async login(input: { email: string; password: string }, clientIp: string) {
    await this.limiter.beforeAttempt(clientIp, input.email);
    const [row] = await this.db
      .select()
      .from(tables.users)
      .where(eq(tables.users.email, input.email));
    const ok = await verifyPassword(row?.passwordHash, input.password);
    if (!row || !ok) {
      await this.limiter.onFailure(input.email);
      throw new ApiError(401, 'invalid_credentials', 'Email or password is incorrect');
    }
    await this.limiter.onSuccess(input.email);
    const session = await this.#startSession(row.id);
    await this.hooks.afterLogin?.({ userId: row.id }).catch(this.onHookError);
    return { user: toUser(row), ...session };
  }

  async refresh(refreshToken: string): Promise<SessionTokens> {
    const rotated = await this.refreshTokens.rotate(refreshToken);
    return {
      accessToken: await this.accessTokens.sign({ userId: rotated.userId }),
      refreshToken: rotated.refreshToken,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    };
  }

  logout(refreshToken: string): Promise<void> {
    return this.refreshTokens.revokeFamily(refreshToken);
  }

  /**
   * The user, served from a short-lived cache: profiles change rarely and every
   * authenticated screen asks for them. 30 s is how stale a renamed user may look on another
   * node; this node's own writes refresh the entry.
   */
  async getUser(userId: string): Promise<User> {
    const cached = this.#users.get(userId);
    if (cached) return cached;
    const [row] = await this.db.select().from(tables.users).where(eq(tables.users.id, userId));
    if (!row) throw notFound('User');
    const user = toUser(row);
    this.#users.set(userId, user);
    return user;
  }

  async #startSession(userId: string): Promise<SessionTokens> {
    return {
      accessToken: await this.accessTokens.sign({ userId }),
      refreshToken: await this.refreshTokens.issue(userId),
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    };
  }
}
