import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { User } from '../../shared/accounts.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { conflict, DomainError, notFound } from '../errors.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { ACCESS_TOKEN_TTL_SECONDS, type AccessTokens } from './access-tokens.ts';
import type { LoginLimiter } from './login-limiter.ts';
import { hashPassword, verifyPassword } from './password-hasher.ts';
import type { RefreshTokens } from './refresh-tokens.ts';
import type { SignupLimiter } from './signup-limiter.ts';

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

/** Channel the `users` delete trigger notifies with the deleted user's id (migration 0011). */
export const USER_DELETED_CHANNEL = 'reelroom_user_deleted';

/** Longest a node may take a deleted user for existing when the notification was lost. */
const EXISTS_TTL_MS = 30_000;

/** Sign-up, login, token refresh and logout. */
export class AccountService {
  readonly #users = new LRUCache<string, User>({ max: 10_000, ttl: 30_000 });
  /** Users known to exist, until their deletion is announced (see `exists`). */
  readonly #existing = new LRUCache<string, true>({ max: 100_000, ttl: EXISTS_TTL_MS });

  constructor(
    private readonly db: Db,
    private readonly accessTokens: AccessTokens,
    private readonly refreshTokens: RefreshTokens,
    private readonly limiters: { login: LoginLimiter; signup: SignupLimiter },
    private readonly workspaces: WorkspaceService,
    private readonly hooks: AccountHooks = {},
    private readonly onHookError: (error: unknown) => void = () => {},
  ) {}

  /**
   * Creates the user and their first workspace in one transaction, and turns the invitations
   * of their email into memberships in it. Duplicate email: 409. Limited per client IP (429)
   * before any hashing.
   */
  async signup(input: { email: string; password: string; name: string }, clientIp: string) {
    await this.limiters.signup.beforeSignup(clientIp);
    const passwordHash = await hashPassword(input.password);
    const userId = randomUUID();
    const created = await this.db.transaction(async (tx) => {
      const [user] = await tx
        .insert(tables.users)
        .values({ id: userId, email: input.email, name: input.name, passwordHash })
        .onConflictDoNothing({ target: tables.users.email })
        .returning();
      if (!user) throw conflict('email_taken', 'An account with this email already exists');
      const workspace = await this.workspaces.create(tx, userId, `${input.name}'s workspace`);
      await this.hooks.afterSignup?.(tx, { userId, workspaceId: workspace.id });
      const joined = await this.workspaces.acceptInvitations(tx, userId, user.email);
      return { user, joined };
    });
    this.workspaces.announce(created.joined);
    // The address the account was made from is one its owner may always log in from.
    await this.limiters.login.onSuccess(clientIp, created.user.email);
    return { user: toUser(created.user), ...(await this.#startSession(userId)) };
  }

  /** Same error for an unknown email and a wrong password; both paths hash once. */
  async login(input: { email: string; password: string }, clientIp: string) {
    await this.limiters.login.beforeAttempt(clientIp, input.email);
    const [row] = await this.db
      .select()
      .from(tables.users)
      .where(eq(tables.users.email, input.email));
    const ok = await verifyPassword(row?.passwordHash, input.password);
    if (!row || !ok) {
      await this.limiters.login.onFailure(clientIp, input.email);
      throw new DomainError('invalid_credentials', 'Email or password is incorrect');
    }
    await this.limiters.login.onSuccess(clientIp, input.email);
    // An invitation written while this account's signup committed is applied now.
    await this.workspaces.acceptPendingInvitations(row.id, row.email);
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

  /**
   * Whether the account exists. Every authenticated request asks (a deleted user's access
   * token is still valid for up to 15 minutes), so a yes is cached: a primary-key read per
   * request cost more than the rest of `GET /me` (PGlite ~0.5 ms). The cache cannot hide a
   * deletion: the `users` delete trigger notifies every node, which calls {@link forget};
   * `EXISTS_TTL_MS` bounds how long a lost notification (a dropped connection) can.
   */
  async exists(userId: string): Promise<boolean> {
    if (this.#existing.get(userId)) return true;
    const [row] = await this.db
      .select({ id: tables.users.id })
      .from(tables.users)
      .where(eq(tables.users.id, userId));
    if (row) this.#existing.set(userId, true);
    return Boolean(row);
  }

  /** Forgets a deleted user at once: their tokens stop working on this node. */
  forget(userId: string): void {
    this.#existing.delete(userId);
    this.#users.delete(userId);
  }

  /**
   * The user a verified Google identity signs in as: the account already linked to its `sub`;
   * else the account with its email, linked only when Google says the email is verified; else
   * a new account (with an unusable random password) and its first workspace, as at signup.
   */
  async signInWithGoogle(identity: {
    sub: string;
    email: string;
    emailVerified: boolean;
    name: string;
  }): Promise<string> {
    const passwordHash = await hashPassword(randomBytes(32).toString('base64url'));
    const created = await this.db.transaction(async (tx) => {
      const [linked] = await tx
        .select({ userId: tables.googleIdentities.userId })
        .from(tables.googleIdentities)
        .where(eq(tables.googleIdentities.sub, identity.sub));
      if (linked) return { userId: linked.userId, joined: [] };
      const [existing] = await tx
        .select()
        .from(tables.users)
        .where(eq(tables.users.email, identity.email));
      let userId: string;
      let joined: Awaited<ReturnType<WorkspaceService['acceptInvitations']>> = [];
      if (existing) {
        if (!identity.emailVerified) {
          throw conflict(
            'email_taken',
            'An account with this email exists and Google does not say the email is verified; log in with your password',
          );
        }
        userId = existing.id;
      } else {
        userId = randomUUID();
        const name = identity.name.trim().slice(0, 100) || identity.email.split('@')[0]!;
        await tx
          .insert(tables.users)
          .values({ id: userId, email: identity.email, name, passwordHash });
        const workspace = await this.workspaces.create(tx, userId, `${name}'s workspace`);
        await this.hooks.afterSignup?.(tx, { userId, workspaceId: workspace.id });
        if (identity.emailVerified) {
          joined = await this.workspaces.acceptInvitations(tx, userId, identity.email);
        }
      }
      await tx.insert(tables.googleIdentities).values({
        sub: identity.sub,
        userId,
        email: identity.email,
        createdAt: new Date(),
      });
      return { userId, joined };
    });
    this.workspaces.announce(created.joined);
    return created.userId;
  }

  /** A new session (token pair) of a user who proved who they are another way (Google). */
  async sessionFor(userId: string): Promise<{ user: User } & SessionTokens> {
    const user = await this.getUser(userId);
    const session = await this.#startSession(userId);
    await this.hooks.afterLogin?.({ userId }).catch(this.onHookError);
    return { user, ...session };
  }

  async #startSession(userId: string): Promise<SessionTokens> {
    return {
      accessToken: await this.accessTokens.sign({ userId }),
      refreshToken: await this.refreshTokens.issue(userId),
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    };
  }
}
