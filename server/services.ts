import type { Logger } from 'pino';
import type { Realtime } from '../realtime/index.ts';
import type { AccessTokens } from './auth/access-tokens.ts';
import type { AccountService } from './auth/account-service.ts';
import type { GoogleSignIn } from './auth/google-sign-in.ts';
import type { Billing } from './billing/index.ts';
import type { CoachService } from './coach/index.ts';
import type { Database } from './db/index.ts';
import type { Metrics } from './metrics/index.ts';
import type { PipelineService } from './pipeline/index.ts';
import type { ProjectService } from './projects/project-service.ts';
import type { AssetService } from './renders/asset-service.ts';
import type { RenderLinks } from './renders/render-links.ts';
import type { RenderService } from './renders/render-service.ts';
import type { FileStorage } from './storage/index.ts';
import type { WorkspaceService } from './workspaces/workspace-service.ts';
import type { YoutubeService } from './youtube/index.ts';

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
  /** Credit wallets (charges, refunds, grants), Stripe checkout and the webhook inbox. */
  billing: Billing;
  /**
   * Socket.IO hub and Yjs sync on this node: `emitter` publishes room events, `editDocument` /
   * `getDocumentText` read and write the project documents, `setHooks` registers `onChatSend`.
   */
  realtime: Realtime;
  /** The AI coach: project chat streamed to the room, plan, decisions, limits and usage. */
  coach: CoachService;
  /** Render jobs: submit (charge, queue), list, cancel; the status lives in the database. */
  renders: RenderService;
  /** Pipeline runs: create (steps as durable jobs), cancel, retry, costs, credit grants. */
  pipeline: PipelineService;
  /** YouTube channels (OAuth connect, list, disconnect) and the quota pools. */
  youtube: YoutubeService;
  /** Sign in with Google; absent when no Google OAuth client is configured. */
  googleSignIn?: GoogleSignIn | undefined;
  /** Signed, expiring URLs of render files, for `<video>` and `<img>` (no Authorization header). */
  renderLinks: RenderLinks;
  /** Uploaded images and audio of projects (type probed from the content). */
  assets: AssetService;
  /** Where assets and render outputs are stored (STORAGE_DIR). */
  storage: FileStorage;
  readiness: ReadinessCheck[];
  /** This node's Prometheus metrics, served at `/metrics`; middleware and services feed it. */
  metrics: Metrics;
  /** METRICS_TOKEN: the bearer token `/metrics` requires; absent: `/metrics` is open. */
  metricsToken?: string | undefined;
  /** Origins browsers may call the API from (CORS); absent: same origin only. */
  corsOrigins?: string[] | undefined;
  /** Trust X-Forwarded-For for the client IP. */
  trustProxy: boolean;
}
