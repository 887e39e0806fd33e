import type { AccessCheck, AuthenticatedUser, ProjectAccess } from '../../realtime/index.ts';
import type { AccessTokens } from '../auth/access-tokens.ts';
import type { AccountService } from '../auth/account-service.ts';
import { DomainError } from '../errors.ts';
import type { ProjectService } from '../projects/project-service.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The realtime layer's AccessCheck on the server's own parts: access tokens name the user,
 * the project's workspace membership gives the role. Roles are read from the database on every
 * call (no cache), so a connection admitted right after a demotion already sees the new role.
 */
export class RealtimeAccess implements AccessCheck {
  readonly #tokens: AccessTokens;
  readonly #accounts: AccountService;
  readonly #projects: ProjectService;

  constructor(parts: { tokens: AccessTokens; accounts: AccountService; projects: ProjectService }) {
    this.#tokens = parts.tokens;
    this.#accounts = parts.accounts;
    this.#projects = parts.projects;
  }

  async authenticate(token: string): Promise<AuthenticatedUser | null> {
    const claims = await this.#tokens.verify(token);
    if (!claims) return null;
    // A valid token of a user that no longer exists is refused, as on REST.
    if (!(await this.#accounts.exists(claims.userId))) return null;
    try {
      const user = await this.#accounts.getUser(claims.userId);
      return { userId: user.id, name: user.name };
    } catch (error) {
      // Deleted between the two reads.
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async projectAccess(userId: string, projectId: string): Promise<ProjectAccess | null> {
    // Document names and join payloads carry any id-shaped string; only UUIDs reach the
    // database (a uuid column refuses anything else with an error, not an empty result).
    if (!UUID.test(projectId)) return null;
    try {
      const { project, role } = await this.#projects.access(userId, projectId, 'viewer');
      return { workspaceId: project.workspaceId, role };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof DomainError && error.code === 'not_found';
}
