import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { eq, lt } from 'drizzle-orm';
import { OAuth2Client } from 'google-auth-library';
import { youtube_v3 } from 'googleapis/build/src/apis/youtube/index.js';
import type { Logger } from 'pino';
import { type Db, tables } from '../db/index.ts';
import { DomainError, notFound } from '../errors.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import type { TokenCipher } from './token-cipher.ts';
import type { YoutubeQuota } from './youtube-quota.ts';

/** The scopes a channel connection asks for: uploads, and reading the channel. */
export const YOUTUBE_SCOPES = [
  'https://www.googleapis.com/auth/youtube.upload',
  'https://www.googleapis.com/auth/youtube.readonly',
];
const STATE_TTL_MS = 10 * 60_000;

export interface GoogleOAuthClientConfig {
  clientId: string;
  clientSecret: string;
}

export interface YoutubeServiceOptions {
  db: Db;
  workspaces: WorkspaceService;
  /** GOOGLE_OAUTH_CLIENTS (or GOOGLE_CLIENT_ID/SECRET): each its own quota pool. */
  clients: GoogleOAuthClientConfig[];
  /** GOOGLE_API_BASE: every Google endpoint on this base; absent: Google's own hosts. */
  apiBase?: string | undefined;
  /** PUBLIC_URL: the redirect URIs and the web app live under it. */
  publicUrl: string;
  cipher: TokenCipher;
  quota: YoutubeQuota;
  logger: Logger;
}

export interface YoutubeChannel {
  id: string;
  workspaceId: string;
  youtubeChannelId: string;
  title: string;
  clientId: string;
  createdAt: string;
}

type ChannelRow = typeof tables.youtubeChannels.$inferSelect;

/** Google's endpoints, on GOOGLE_API_BASE when set (SPEC "Publishing and Google"). */
export function googleEndpoints(apiBase: string | undefined) {
  const base = apiBase?.replace(/\/+$/, '');
  return {
    auth: base ? `${base}/o/oauth2/v2/auth` : 'https://accounts.google.com/o/oauth2/v2/auth',
    token: base ? `${base}/token` : 'https://oauth2.googleapis.com/token',
    revoke: base ? `${base}/revoke` : 'https://oauth2.googleapis.com/revoke',
    certs: base ? `${base}/oauth2/v3/certs` : 'https://www.googleapis.com/oauth2/v3/certs',
    pemCerts: base ? `${base}/oauth2/v1/certs` : 'https://www.googleapis.com/oauth2/v1/certs',
    userinfo: base
      ? `${base}/oauth2/v3/userinfo`
      : 'https://openidconnect.googleapis.com/v1/userinfo',
    /** The Data API's root (with a trailing slash, as googleapis wants it). */
    root: base ? `${base}/` : 'https://www.googleapis.com/',
  };
}

const hashState = (state: string) => createHash('sha256').update(state).digest('hex');

/** Connected YouTube channels: consent, callback, list, disconnect, and authorized clients. */
export class YoutubeService {
  readonly endpoints: ReturnType<typeof googleEndpoints>;
  readonly redirectUri: string;
  /** PUBLIC_URL without a trailing slash: where the web app is. */
  readonly publicUrl: string;
  readonly #o: YoutubeServiceOptions;

  constructor(options: YoutubeServiceOptions) {
    this.#o = options;
    this.endpoints = googleEndpoints(options.apiBase);
    this.publicUrl = options.publicUrl.replace(/\/+$/, '');
    this.redirectUri = `${this.publicUrl}/api/v1/youtube/callback`;
  }

  get configured(): boolean {
    return this.#o.clients.length > 0;
  }

  get quota(): YoutubeQuota {
    return this.#o.quota;
  }

  /** An OAuth client of one pool, its endpoints on the configured base. */
  oauthClient(clientId: string): OAuth2Client {
    const config = this.#o.clients.find((c) => c.clientId === clientId);
    if (!config) {
      throw new DomainError('service_unavailable', `OAuth client ${clientId} is not configured`);
    }
    return new OAuth2Client({
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      redirectUri: this.redirectUri,
      // An access token Google refuses before its expiry (revoked, rotated) is refreshed once.
      forceRefreshOnFailure: true,
      endpoints: {
        oauth2AuthBaseUrl: this.endpoints.auth,
        oauth2TokenUrl: this.endpoints.token,
        oauth2RevokeUrl: this.endpoints.revoke,
        oauth2FederatedSignonJwkCertsUrl: this.endpoints.certs,
        oauth2FederatedSignonPemCertsUrl: this.endpoints.pemCerts,
      },
    });
  }

  /** The generated Data API client on an authorized OAuth client. */
  dataApi(auth: OAuth2Client): youtube_v3.Youtube {
    return new youtube_v3.Youtube({ auth, rootUrl: this.endpoints.root });
  }

  #requireConfigured(): void {
    if (!this.configured) {
      throw new DomainError(
        'service_unavailable',
        'Publishing to YouTube needs GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (or GOOGLE_OAUTH_CLIENTS)',
      );
    }
  }

  /** Google's consent URL for a new channel, through the pool with the most room. */
  async connect(userId: string, workspaceId: string): Promise<{ url: string }> {
    await this.#o.workspaces.requireRole(userId, workspaceId, 'editor');
    this.#requireConfigured();
    const clientId = await this.#o.quota.roomiest();
    const state = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.#o.db
      .delete(tables.youtubeOauthStates)
      .where(lt(tables.youtubeOauthStates.expiresAt, now));
    await this.#o.db.insert(tables.youtubeOauthStates).values({
      stateHash: hashState(state),
      userId,
      workspaceId,
      clientId,
      expiresAt: new Date(now.getTime() + STATE_TTL_MS),
      createdAt: now,
    });
    const url = this.oauthClient(clientId).generateAuthUrl({
      access_type: 'offline',
      prompt: 'consent',
      scope: YOUTUBE_SCOPES,
      state,
      include_granted_scopes: true,
    });
    return { url };
  }

  /**
   * Google's redirect: takes the state (single use, deleted whatever follows), exchanges the
   * code, reads the channel and stores it with its refresh token encrypted.
   */
  async callback(code: string, state: string): Promise<YoutubeChannel> {
    const [pending] = await this.#o.db
      .delete(tables.youtubeOauthStates)
      .where(eq(tables.youtubeOauthStates.stateHash, hashState(state)))
      .returning();
    if (!pending || pending.expiresAt < new Date()) {
      throw new DomainError('invalid_state', 'state: unknown, used or expired; connect again');
    }
    // The user must still be allowed to connect in that workspace.
    await this.#o.workspaces.requireRole(pending.userId, pending.workspaceId, 'editor');
    const client = this.oauthClient(pending.clientId);
    await this.#o.quota.ensure(pending.clientId, ['channels.list']);
    let channel: youtube_v3.Schema$Channel | undefined;
    let refreshToken: string;
    try {
      const { tokens } = await client.getToken(code);
      if (!tokens.refresh_token) {
        throw new DomainError('google_error', 'Google issued no refresh token; connect again');
      }
      refreshToken = tokens.refresh_token;
      client.setCredentials(tokens);
      await this.#o.quota.spend(pending.clientId, 'channels.list');
      const listed = await this.dataApi(client).channels.list({ part: ['snippet'], mine: true });
      channel = listed.data.items?.[0];
    } catch (error) {
      if (googleErrorReason(error) === 'quotaExceeded') {
        await this.#o.quota.markExhausted(pending.clientId);
      }
      throw sanitizedGoogleError(error);
    }
    if (!channel?.id) {
      throw new DomainError('youtube_no_channel', 'this Google account has no YouTube channel');
    }
    const sealed = this.#o.cipher.encrypt(refreshToken);
    const now = new Date();
    const values = {
      id: randomUUID(),
      workspaceId: pending.workspaceId,
      youtubeChannelId: channel.id,
      title: channel.snippet?.title ?? channel.id,
      clientId: pending.clientId,
      refreshTokenCiphertext: sealed.ciphertext,
      tokenKeyId: sealed.keyId,
      connectedBy: pending.userId,
      createdAt: now,
      updatedAt: now,
    };
    const t = tables.youtubeChannels;
    const [row] = await this.#o.db
      .insert(t)
      .values(values)
      .onConflictDoUpdate({
        target: [t.workspaceId, t.youtubeChannelId],
        set: {
          title: values.title,
          clientId: values.clientId,
          refreshTokenCiphertext: values.refreshTokenCiphertext,
          tokenKeyId: values.tokenKeyId,
          updatedAt: now,
        },
      })
      .returning();
    return toChannelWire(row!);
  }

  async list(userId: string, workspaceId: string): Promise<YoutubeChannel[]> {
    await this.#o.workspaces.requireRole(userId, workspaceId, 'viewer');
    const rows = await this.#o.db
      .select()
      .from(tables.youtubeChannels)
      .where(eq(tables.youtubeChannels.workspaceId, workspaceId))
      .orderBy(tables.youtubeChannels.createdAt);
    return rows.map(toChannelWire);
  }

  /** Revokes the token at Google, then forgets the channel (owners). */
  async disconnect(userId: string, channelId: string): Promise<void> {
    const row = await this.channelRow(channelId);
    if (!row) throw notFound('Channel');
    const role = await this.#o.workspaces.roleOf(userId, row.workspaceId);
    if (!role) throw notFound('Channel');
    await this.#o.workspaces.requireRole(userId, row.workspaceId, 'owner');
    try {
      await this.oauthClient(row.clientId).revokeToken(this.refreshToken(row));
    } catch (error) {
      // A token Google no longer knows (revoked by the user) is as good as revoked.
      const status = (error as { status?: number; response?: { status?: number } }).response
        ?.status;
      if (status !== 400) throw sanitizedGoogleError(error);
    }
    await this.#o.db.delete(tables.youtubeChannels).where(eq(tables.youtubeChannels.id, row.id));
  }

  async channelRow(channelId: string): Promise<ChannelRow | null> {
    if (!/^[0-9a-f-]{36}$/i.test(channelId)) return null;
    const [row] = await this.#o.db
      .select()
      .from(tables.youtubeChannels)
      .where(eq(tables.youtubeChannels.id, channelId));
    return row ?? null;
  }

  refreshToken(row: ChannelRow): string {
    return this.#o.cipher.decrypt(row.refreshTokenCiphertext, row.tokenKeyId);
  }

  /** An OAuth client authorized as the channel (it refreshes its access token by itself). */
  authorizedClient(row: ChannelRow): OAuth2Client {
    const client = this.oauthClient(row.clientId);
    client.setCredentials({ refresh_token: this.refreshToken(row) });
    return client;
  }

  /** The channel of a workspace, or a 404-like domain error. */
  async channelOf(workspaceId: string, channelId: string): Promise<ChannelRow> {
    const row = await this.channelRow(channelId);
    if (!row || row.workspaceId !== workspaceId) throw notFound('Channel');
    return row;
  }

  async quotaFor(userId: string, workspaceId: string) {
    await this.#o.workspaces.requireRole(userId, workspaceId, 'viewer');
    return { pools: await this.#o.quota.pools() };
  }
}

export function toChannelWire(row: ChannelRow): YoutubeChannel {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    youtubeChannelId: row.youtubeChannelId,
    title: row.title,
    clientId: row.clientId,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * A Google failure as a domain error that carries no secret: a gaxios error's `config` holds
 * the request (a refresh token, a client secret, an `Authorization` header), so it is never
 * kept as a cause or logged; only the status and Google's reason are.
 */
export function sanitizedGoogleError(error: unknown): unknown {
  if (error instanceof DomainError || typeof error !== 'object' || error === null) return error;
  const e = error as { response?: { status?: number; data?: unknown }; code?: unknown };
  if (e.response === undefined && !('config' in error)) return error;
  const status = e.response?.status;
  const data = e.response?.data as { error?: unknown } | undefined;
  const reason =
    googleErrorReason(error) ??
    (typeof data?.error === 'string' ? data.error : undefined) ??
    (typeof e.code === 'string' ? e.code : undefined) ??
    'no answer';
  return new DomainError('google_error', `Google answered ${status ?? 'nothing'} (${reason})`);
}

/** Whether a Google error is a quota answer: `quotaExceeded` / `uploadLimitExceeded`. */
export function googleErrorReason(error: unknown): string | undefined {
  const data = (error as { response?: { data?: unknown } }).response?.data as
    | { error?: { errors?: Array<{ reason?: string }> } }
    | undefined;
  return data?.error?.errors?.[0]?.reason;
}
