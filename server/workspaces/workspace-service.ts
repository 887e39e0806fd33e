import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { Invitation, Member, Role, Workspace } from '../../shared/workspaces.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { conflict, forbidden, notFound } from '../errors.ts';
import { addToOutbox } from '../outbox/index.ts';
import { MemberLimiter } from './member-limiter.ts';

const RANK: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/** Whether `role` may do what `minimum` may. */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

export interface MembershipChange {
  workspaceId: string;
  userId: string;
  /** The new role, or null when the member was removed. */
  role: Role | null;
}

/**
 * Told after every committed membership change. The change reaches realtime through the
 * outbox entry written in its transaction; the listener only kicks the node's dispatcher.
 */
export type MembershipListener = (change: MembershipChange) => void;

export interface WorkspaceServiceOptions {
  /** Limits member additions per inviter and per workspace. Default: in memory, default limits. */
  memberLimiter?: MemberLimiter;
}

/** What adding by email made: a member (the email has an account) or a pending invitation. */
export type MemberAddition = { member: Member } | { invitation: Invitation };

/** Workspaces, their members and the role checks every route relies on. */
export class WorkspaceService {
  readonly #listeners = new Set<MembershipListener>();
  readonly #memberLimiter: MemberLimiter;

  constructor(
    private readonly db: Db,
    options: WorkspaceServiceOptions = {},
  ) {
    this.#memberLimiter = options.memberLimiter ?? new MemberLimiter();
  }

  onMembershipChanged(listener: MembershipListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The caller's role in a workspace, or null when they are not a member. */
  async roleOf(userId: string, workspaceId: string, db: Db | Tx = this.db): Promise<Role | null> {
    const [row] = await db
      .select({ role: tables.workspaceMembers.role })
      .from(tables.workspaceMembers)
      .where(
        and(
          eq(tables.workspaceMembers.workspaceId, workspaceId),
          eq(tables.workspaceMembers.userId, userId),
        ),
      );
    return row?.role ?? null;
  }

  /**
   * Throws unless the user has at least `minimum` in the workspace: a non-member gets 404
   * (another team's workspace does not exist for them), a weaker role 403.
   */
  async requireRole(
    userId: string,
    workspaceId: string,
    minimum: Role,
    db: Db | Tx = this.db,
  ): Promise<Role> {
    const role = await this.roleOf(userId, workspaceId, db);
    if (!role) throw notFound('Workspace');
    if (!roleAtLeast(role, minimum))
      throw forbidden(`This needs the ${minimum} role; you are ${role}`);
    return role;
  }

  /** Creates a workspace owned by `userId` (used by signup inside its transaction). */
  async create(db: Db | Tx, userId: string, name: string): Promise<Workspace> {
    const id = randomUUID();
    const createdAt = new Date();
    await db.insert(tables.workspaces).values({ id, name, createdBy: userId, createdAt });
    await db
      .insert(tables.workspaceMembers)
      .values({ workspaceId: id, userId, role: 'owner', createdAt });
    return { id, name, role: 'owner', createdAt: createdAt.toISOString() };
  }

  async createForUser(userId: string, name: string): Promise<Workspace> {
    return this.db.transaction((tx) => this.create(tx, userId, name));
  }

  async listForUser(userId: string): Promise<Workspace[]> {
    const rows = await this.db
      .select({
        id: tables.workspaces.id,
        name: tables.workspaces.name,
        role: tables.workspaceMembers.role,
        createdAt: tables.workspaces.createdAt,
      })
      .from(tables.workspaceMembers)
      .innerJoin(tables.workspaces, eq(tables.workspaces.id, tables.workspaceMembers.workspaceId))
      .where(eq(tables.workspaceMembers.userId, userId))
      .orderBy(asc(tables.workspaces.createdAt), asc(tables.workspaces.id));
    return rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() }));
  }

  async get(userId: string, workspaceId: string): Promise<Workspace> {
    const role = await this.requireRole(userId, workspaceId, 'viewer');
    const [row] = await this.db
      .select()
      .from(tables.workspaces)
      .where(eq(tables.workspaces.id, workspaceId));
    if (!row) throw notFound('Workspace');
    return { id: row.id, name: row.name, role, createdAt: row.createdAt.toISOString() };
  }

  /** The members, and the invitations still waiting for an account. Members only. */
  async listMembers(
    userId: string,
    workspaceId: string,
  ): Promise<{ members: Member[]; invitations: Invitation[] }> {
    await this.requireRole(userId, workspaceId, 'viewer');
    const invitations = await this.db
      .select()
      .from(tables.workspaceInvitations)
      .where(eq(tables.workspaceInvitations.workspaceId, workspaceId))
      .orderBy(asc(tables.workspaceInvitations.createdAt), asc(tables.workspaceInvitations.email));
    return {
      members: await this.#members(this.db, workspaceId),
      invitations: invitations.map(toInvitation),
    };
  }

  /**
   * Owners add by email: a user with that email becomes a member at once; an email without an
   * account gets an invitation that their signup turns into a membership. Rate-limited per
   * inviter and per workspace (counted once the caller is known to be an owner), since the
   * answer tells whether the email has an account.
   */
  async addMember(
    actorId: string,
    workspaceId: string,
    email: string,
    role: Role,
  ): Promise<MemberAddition> {
    await this.requireRole(actorId, workspaceId, 'owner');
    await this.#memberLimiter.beforeAdd(actorId, workspaceId);
    const added = await this.db.transaction(async (tx): Promise<MemberAddition> => {
      await this.requireRole(actorId, workspaceId, 'owner', tx);
      const [user] = await tx.select().from(tables.users).where(eq(tables.users.email, email));
      if (!user) {
        const [invitation] = await tx
          .insert(tables.workspaceInvitations)
          .values({ id: randomUUID(), workspaceId, email, role, invitedBy: actorId })
          .onConflictDoNothing()
          .returning();
        if (!invitation)
          throw conflict('already_invited', 'This email is already invited to the workspace');
        return { invitation: toInvitation(invitation) };
      }
      const [inserted] = await tx
        .insert(tables.workspaceMembers)
        .values({ workspaceId, userId: user.id, role, createdAt: new Date() })
        .onConflictDoNothing()
        .returning();
      if (!inserted)
        throw conflict('already_member', 'This user is already a member of the workspace');
      await noteMembershipChange(tx, workspaceId, user.id);
      return { member: toMember(user, inserted) };
    });
    if ('member' in added) this.#emit({ workspaceId, userId: added.member.userId, role });
    return added;
  }

  /** Owners revoke an invitation that is still waiting; an unknown one is a 404. */
  async revokeInvitation(actorId: string, workspaceId: string, invitationId: string) {
    await this.requireRole(actorId, workspaceId, 'owner');
    const [revoked] = await this.db
      .delete(tables.workspaceInvitations)
      .where(
        and(
          eq(tables.workspaceInvitations.workspaceId, workspaceId),
          eq(tables.workspaceInvitations.id, invitationId),
        ),
      )
      .returning({ id: tables.workspaceInvitations.id });
    if (!revoked) throw notFound('Invitation');
  }

  /**
   * Turns the invitations of `email` into memberships of `userId`, in the caller's transaction
   * (signup's, so the account and its memberships commit together). Returns the changes, for
   * {@link announce} once committed.
   */
  async acceptInvitations(tx: Tx, userId: string, email: string): Promise<MembershipChange[]> {
    const invitations = await tx
      .delete(tables.workspaceInvitations)
      .where(eq(tables.workspaceInvitations.email, email))
      .returning();
    const changes: MembershipChange[] = [];
    for (const invitation of invitations) {
      const [joined] = await tx
        .insert(tables.workspaceMembers)
        .values({
          workspaceId: invitation.workspaceId,
          userId,
          role: invitation.role,
          createdAt: new Date(),
        })
        .onConflictDoNothing()
        .returning();
      if (!joined) continue;
      await noteMembershipChange(tx, invitation.workspaceId, userId);
      changes.push({ workspaceId: invitation.workspaceId, userId, role: invitation.role });
    }
    return changes;
  }

  /**
   * Applies invitations of an existing account (an invitation written while its signup
   * committed; logins call this). One indexed read when there are none.
   */
  async acceptPendingInvitations(userId: string, email: string): Promise<void> {
    const [pending] = await this.db
      .select({ id: tables.workspaceInvitations.id })
      .from(tables.workspaceInvitations)
      .where(eq(tables.workspaceInvitations.email, email))
      .limit(1);
    if (!pending) return;
    this.announce(await this.db.transaction((tx) => this.acceptInvitations(tx, userId, email)));
  }

  /** Tells the listeners of membership changes that committed. */
  announce(changes: MembershipChange[]): void {
    for (const change of changes) this.#emit(change);
  }

  /** Owners change roles; the last owner cannot be demoted. */
  async updateMember(
    actorId: string,
    workspaceId: string,
    userId: string,
    role: Role,
  ): Promise<Member> {
    const member = await this.db.transaction(async (tx) => {
      await this.requireRole(actorId, workspaceId, 'owner', tx);
      const members = await this.#lockMembers(tx, workspaceId);
      const target = members.find((m) => m.userId === userId);
      if (!target) throw notFound('Member');
      if (
        target.role === 'owner' &&
        role !== 'owner' &&
        members.filter((m) => m.role === 'owner').length === 1
      ) {
        throw conflict(
          'last_owner',
          'A workspace needs at least one owner; make someone else owner first',
        );
      }
      await tx
        .update(tables.workspaceMembers)
        .set({ role })
        .where(
          and(
            eq(tables.workspaceMembers.workspaceId, workspaceId),
            eq(tables.workspaceMembers.userId, userId),
          ),
        );
      await noteMembershipChange(tx, workspaceId, userId);
      return { ...target, role };
    });
    this.#emit({ workspaceId, userId, role });
    return member;
  }

  /** Owners remove anyone; any member may remove themselves (leave). Never the last owner. */
  async removeMember(actorId: string, workspaceId: string, userId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.requireRole(actorId, workspaceId, actorId === userId ? 'viewer' : 'owner', tx);
      const members = await this.#lockMembers(tx, workspaceId);
      const target = members.find((m) => m.userId === userId);
      if (!target) throw notFound('Member');
      if (target.role === 'owner' && members.filter((m) => m.role === 'owner').length === 1) {
        throw conflict(
          'last_owner',
          'A workspace needs at least one owner; make someone else owner first',
        );
      }
      await tx
        .delete(tables.workspaceMembers)
        .where(
          and(
            eq(tables.workspaceMembers.workspaceId, workspaceId),
            eq(tables.workspaceMembers.userId, userId),
          ),
        );
      await noteMembershipChange(tx, workspaceId, userId);
    });
    this.#emit({ workspaceId, userId, role: null });
  }

  /**
   * Reads the member list under row locks, so two owners demoting each other concurrently
   * cannot both pass the last-owner check.
   */
  async #lockMembers(tx: Tx, workspaceId: string): Promise<Member[]> {
    const rows = await tx
      .select()
      .from(tables.workspaceMembers)
      .innerJoin(tables.users, eq(tables.users.id, tables.workspaceMembers.userId))
      .where(eq(tables.workspaceMembers.workspaceId, workspaceId))
      .for('update', { of: tables.workspaceMembers });
    return rows.map((row) => toMember(row.users, row.workspace_members));
  }

  async #members(db: Db | Tx, workspaceId: string): Promise<Member[]> {
    const rows = await db
      .select()
      .from(tables.workspaceMembers)
      .innerJoin(tables.users, eq(tables.users.id, tables.workspaceMembers.userId))
      .where(eq(tables.workspaceMembers.workspaceId, workspaceId))
      .orderBy(asc(tables.workspaceMembers.createdAt), asc(tables.users.email));
    return rows.map((row) => toMember(row.users, row.workspace_members));
  }

  #emit(change: MembershipChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/**
 * The outbox entry that tells every node's realtime layer of a membership change, written in
 * the changing transaction: a crash right after the commit cannot leave a removed member
 * connected. The handler reads the role as it is then.
 */
function noteMembershipChange(tx: Tx, workspaceId: string, userId: string): Promise<void> {
  return addToOutbox(tx, {
    topic: 'membership.changed',
    key: `${workspaceId}:${userId}`,
    payload: { workspaceId, userId },
  });
}

function toInvitation(row: typeof tables.workspaceInvitations.$inferSelect): Invitation {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    email: row.email,
    role: row.role,
    invitedBy: row.invitedBy,
    createdAt: row.createdAt.toISOString(),
  };
}

function toMember(
  user: typeof tables.users.$inferSelect,
  membership: typeof tables.workspaceMembers.$inferSelect,
): Member {
  return {
    userId: user.id,
    email: user.email,
    name: user.name,
    role: membership.role,
    joinedAt: membership.createdAt.toISOString(),
  };
}
