import type { Logger } from 'pino';
import type { AccessTokens } from './auth/access-tokens.ts';
import type { AccountService } from './auth/account-service.ts';
import type { Database } from './db/index.ts';
import type { ProjectService } from './projects/project-service.ts';
import type { WorkspaceService } from './workspaces/workspace-service.ts';

/** A dependency `/ready` checks; each throws when its part is not reachable. */
export type ReadinessCheck = { name: string; check: () => Promise<void> };

/**
 * What request handlers use, built once by the composition root (`server/runtime.ts`) and
 * handed to the app. Handlers reach it through `c.var.services`.
 */
export interface Services {
  database: Database;
  logger: Logger;
  accessTokens: AccessTokens;
  accounts: AccountService;
  workspaces: WorkspaceService;
  projects: ProjectService;
  readiness: ReadinessCheck[];
  /** Origins browsers may call the API from (CORS); absent: same origin only. */
  corsOrigins?: string[] | undefined;
  /** Trust X-Forwarded-For for the client IP. */
  trustProxy: boolean;
}
