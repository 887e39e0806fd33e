/** A member's role in a workspace, which decides what they may do in its projects. */
export type MemberRole = 'owner' | 'editor' | 'viewer';

/** Who a valid access token belongs to. */
export interface AuthenticatedUser {
  userId: string;
  /** Display name, shown in presence. */
  name: string;
}

/** A user's standing in one project: the project's workspace and their role in it. */
export interface ProjectAccess {
  workspaceId: string;
  role: MemberRole;
}

/**
 * What the realtime layer needs to know about users and projects. The server implements it on
 * its tokens and membership tables; realtime never reads those itself.
 */
export interface AccessCheck {
  /** The user an access token belongs to; null when it is missing, malformed or expired. */
  authenticate(token: string): Promise<AuthenticatedUser | null>;
  /**
   * The user's role in the workspace that owns the project; null when the project does not
   * exist or the user is not a member of its workspace.
   */
  projectAccess(userId: string, projectId: string): Promise<ProjectAccess | null>;
}

/**
 * A membership that changed: `role` is the new role, or null when the member was removed.
 * Open connections follow it: removed members are disconnected, viewers become read-only.
 */
export interface MembershipChange {
  workspaceId: string;
  userId: string;
  role: MemberRole | null;
}

/** Whether a role may change documents. */
export function canWrite(role: MemberRole): boolean {
  return role === 'owner' || role === 'editor';
}
