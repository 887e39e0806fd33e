import {
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from './accounts.ts';
import { workspaces } from './workspaces.ts';

/**
 * A pending Google consent: the `state` sent to Google (stored as its SHA-256, never in clear),
 * bound to the user, the workspace and the OAuth client; deleted when used (single use).
 */
export const youtubeOauthStates = pgTable('youtube_oauth_states', {
  stateHash: text('state_hash').primaryKey(),
  userId: uuid('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  workspaceId: uuid('workspace_id')
    .notNull()
    .references(() => workspaces.id, { onDelete: 'cascade' }),
  clientId: text('client_id').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** A connected YouTube channel; the refresh token only as AES-256-GCM ciphertext with its key id. */
export const youtubeChannels = pgTable(
  'youtube_channels',
  {
    id: uuid('id').primaryKey(),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    youtubeChannelId: text('youtube_channel_id').notNull(),
    title: text('title').notNull(),
    /** The OAuth client (quota pool) the channel was connected through. */
    clientId: text('client_id').notNull(),
    /** `base64url(iv).base64url(ciphertext).base64url(tag)`. */
    refreshTokenCiphertext: text('refresh_token_ciphertext').notNull(),
    tokenKeyId: text('token_key_id').notNull(),
    connectedBy: uuid('connected_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    uniqueIndex('youtube_channels_workspace_channel_idx').on(
      table.workspaceId,
      table.youtubeChannelId,
    ),
  ],
);

/** Quota spent per OAuth client and Pacific day (`YYYY-MM-DD` in America/Los_Angeles). */
export const youtubeQuotaUsage = pgTable(
  'youtube_quota_usage',
  {
    clientId: text('client_id').notNull(),
    day: text('day').notNull(),
    usedUnits: integer('used_units').notNull().default(0),
    uploadsUsed: integer('uploads_used').notNull().default(0),
    /** Set when Google answered `quotaExceeded`: the pool is exhausted until this instant. */
    exhaustedUntil: timestamp('exhausted_until', { withTimezone: true }),
  },
  (table) => [primaryKey({ columns: [table.clientId, table.day] })],
);

/**
 * A resumable upload session of a publish step (one per step and round), so a worker that takes
 * over the step resumes the same session instead of uploading again.
 */
export const youtubeUploadSessions = pgTable(
  'youtube_upload_sessions',
  {
    stepKey: text('step_key').primaryKey(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => youtubeChannels.id, { onDelete: 'cascade' }),
    sessionUri: text('session_uri').notNull(),
    totalBytes: integer('total_bytes').notNull(),
    youtubeVideoId: text('youtube_video_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [index('youtube_upload_sessions_channel_idx').on(table.channelId)],
);

/** A pending "Sign in with Google": its state (hashed), PKCE verifier and nonce; single use. */
export const googleSigninStates = pgTable('google_signin_states', {
  stateHash: text('state_hash').primaryKey(),
  codeVerifier: text('code_verifier').notNull(),
  nonce: text('nonce').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});

/** A Google account (its `sub`) linked to a user. */
export const googleIdentities = pgTable('google_identities', {
  sub: text('sub').primaryKey(),
  userId: uuid('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  email: text('email').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** The single-use `loginCode` the sign-in callback hands the web app (hashed, 60 s). */
export const googleLoginCodes = pgTable('google_login_codes', {
  codeHash: text('code_hash').primaryKey(),
  userId: uuid('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});
