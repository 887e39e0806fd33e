import type { z } from 'zod';
import { loginBodySchema, refreshBodySchema, signupBodySchema } from '../../shared/accounts.ts';
import { checkoutBodySchema } from '../../shared/billing.ts';
import {
  applyPlanBodySchema,
  creatorProfileBodySchema,
  sendChatBodySchema,
  setTaskBodySchema,
} from '../../shared/coach.ts';
import type { ErrorBody } from '../../shared/errors.ts';
import { createPipelineRunBodySchema, grantCreditsBodySchema } from '../../shared/pipeline.ts';
import { createProjectBodySchema, updateProjectBodySchema } from '../../shared/projects.ts';
import { submitRenderBodySchema } from '../../shared/render-spec.ts';
import {
  addMemberBodySchema,
  createWorkspaceBodySchema,
  updateMemberBodySchema,
} from '../../shared/workspaces.ts';
import { googleExchangeBodySchema, youtubeWorkspaceSchema } from '../../shared/youtube.ts';

const WORKSPACE_ID = '3f2b9c1e-8d4a-4b7e-9a61-2c5d7e9f0a13';
const ASSET_ID = '9b0c4e2a-5f1d-4c8b-8e3a-7d6f2a1b0c94';
const VOICEOVER_ID = 'c41d7a9e-2b3f-4e6a-9c8d-1f0e5a7b3c26';

/** A realistic render: a 720p, 30 fps, three-scene video with a voice-over and an image. */
export const RENDER_SPEC_EXAMPLE = {
  width: 1280,
  height: 720,
  fps: 30,
  subtitles: true,
  scenes: [
    { text: 'Launch day', durationSec: 3, background: { type: 'color', color: '#1e293b' } },
    {
      text: 'Everything your team needs to ship a video, in one room.',
      background: { type: 'image', assetId: ASSET_ID },
      voiceoverAssetId: VOICEOVER_ID,
    },
    { text: 'Try it free today', durationSec: 4, background: { type: 'color', color: '#0f766e' } },
  ],
} satisfies z.input<typeof submitRenderBodySchema>['spec'];

/**
 * The example body of each JSON request, with the shared schema it must pass: the document
 * shows them in the reference page ("Try it out" sends them), and a test parses each one with
 * its schema so an example never drifts from the contract. Keyed `METHOD /path` as in the
 * OpenAPI document (paths relative to `/api/v1`).
 */
export const REQUEST_EXAMPLES: Record<string, { schema: z.ZodType; example: unknown }> = {
  'post /auth/signup': {
    schema: signupBodySchema,
    example: { email: 'ada@example.com', password: 'correct horse battery', name: 'Ada Lovelace' },
  },
  'post /auth/login': {
    schema: loginBodySchema,
    example: { email: 'ada@example.com', password: 'correct horse battery' },
  },
  'post /auth/refresh': {
    schema: refreshBodySchema,
    example: { refreshToken: 'rt_4kVb2Qx9nM7pL1sT8wZ3yR6uE0cH5jGd' },
  },
  'post /auth/logout': {
    schema: refreshBodySchema,
    example: { refreshToken: 'rt_4kVb2Qx9nM7pL1sT8wZ3yR6uE0cH5jGd' },
  },
  'post /auth/google/exchange': {
    schema: googleExchangeBodySchema,
    example: { loginCode: 'lc_Yp3Vq8Zr2Kt6Wm9Xn4Bs7Hd1Jf5Lg0Ca' },
  },
  'post /workspaces': { schema: createWorkspaceBodySchema, example: { name: 'Northwind Studio' } },
  'post /workspaces/{id}/members': {
    schema: addMemberBodySchema,
    example: { email: 'grace@example.com', role: 'editor' },
  },
  'patch /workspaces/{id}/members/{userId}': {
    schema: updateMemberBodySchema,
    example: { role: 'viewer' },
  },
  'post /projects': {
    schema: createProjectBodySchema,
    example: {
      workspaceId: WORKSPACE_ID,
      title: 'Launch video',
      topic: 'Why small teams should edit video scripts together',
    },
  },
  'patch /projects/{id}': {
    schema: updateProjectBodySchema,
    example: { title: 'Launch video (final cut)' },
  },
  'post /projects/{id}/renders': {
    schema: submitRenderBodySchema,
    example: { spec: RENDER_SPEC_EXAMPLE, idempotencyKey: 'launch-video-v3' },
  },
  'post /projects/{id}/pipeline-runs': {
    schema: createPipelineRunBodySchema,
    example: { steps: ['voiceover', 'thumbnail', 'render'], idempotencyKey: 'make-video-1' },
  },
  'post /billing/checkout': {
    schema: checkoutBodySchema,
    example: { workspaceId: WORKSPACE_ID, packageId: 'basic' },
  },
  'post /billing/grants': {
    schema: grantCreditsBodySchema,
    example: { workspaceId: WORKSPACE_ID, credits: 200, reason: 'Trial credits for the launch' },
  },
  'put /coach/profile': {
    schema: creatorProfileBodySchema,
    example: {
      platforms: ['youtube'],
      audienceSize: 12_000,
      niche: 'home espresso',
      goals: ['Reach 1,000 paying members'],
      budgetUsd: 300,
    },
  },
  'post /projects/{id}/chat': {
    schema: sendChatBodySchema,
    example: { content: 'Should the first video be a tutorial or a behind-the-scenes?' },
  },
  'post /projects/{id}/plan': {
    schema: applyPlanBodySchema,
    example: { templateId: 'youtube-memberships' },
  },
  'patch /projects/{id}/plan/tasks/{taskId}': {
    schema: setTaskBodySchema,
    example: { done: true },
  },
  'post /youtube/connect': {
    schema: youtubeWorkspaceSchema,
    example: { workspaceId: WORKSPACE_ID },
  },
};

/**
 * The error a status stands for when a route does not give its own example: each code is one
 * that `error-status.ts` answers with exactly this status (a test checks it).
 */
export const ERROR_EXAMPLES: Record<number, ErrorBody> = {
  400: {
    error: { code: 'validation_failed', message: 'Invalid body: email: Invalid email address' },
  },
  401: { error: { code: 'unauthorized', message: 'Missing or expired access token' } },
  402: {
    error: { code: 'insufficient_credits', message: 'This needs 40 credits; the workspace has 12' },
  },
  403: { error: { code: 'forbidden', message: 'Viewers cannot change this project' } },
  404: { error: { code: 'not_found', message: 'Project not found' } },
  409: {
    error: { code: 'conflict', message: 'Something this request refers to was deleted meanwhile' },
  },
  413: {
    error: { code: 'payload_too_large', message: 'body: requests are limited to 1048576 bytes' },
  },
  415: {
    error: { code: 'unsupported_media_type', message: 'body: send application/json' },
  },
  416: {
    error: { code: 'range_not_satisfiable', message: 'Range bytes=9000000- is past the end' },
  },
  429: { error: { code: 'rate_limited', message: 'Too many requests; retry in 30 seconds' } },
  500: { error: { code: 'internal_error', message: 'Internal server error' } },
  502: {
    error: { code: 'payment_provider_error', message: 'Stripe did not answer; try again shortly' },
  },
  503: {
    error: {
      code: 'service_unavailable',
      message: 'A service this request needs is unreachable; try again shortly',
    },
  },
};

/**
 * Examples for error answers whose code is not the status's usual one, keyed
 * `METHOD /path STATUS`.
 */
export const ROUTE_ERROR_EXAMPLES: Record<string, ErrorBody> = {
  'post /auth/signup 409': {
    error: { code: 'email_taken', message: 'An account with this email already exists' },
  },
  'post /auth/login 401': {
    error: { code: 'invalid_credentials', message: 'Email or password is incorrect' },
  },
  'post /auth/refresh 401': {
    error: { code: 'token_reused', message: 'This refresh token was already used; sign in again' },
  },
  'post /auth/google/exchange 401': {
    error: { code: 'unauthorized', message: 'Unknown, used or expired loginCode' },
  },
  'post /workspaces/{id}/members 409': {
    error: { code: 'already_member', message: 'grace@example.com is already a member' },
  },
  'patch /workspaces/{id}/members/{userId} 409': {
    error: { code: 'last_owner', message: 'A workspace keeps at least one owner' },
  },
  'delete /workspaces/{id}/members/{userId} 409': {
    error: { code: 'last_owner', message: 'A workspace keeps at least one owner' },
  },
  'get /renders/{id}/output 409': {
    error: { code: 'render_not_ready', message: 'The render is running, not completed' },
  },
  'get /renders/{id}/thumbnail 409': {
    error: { code: 'render_not_ready', message: 'The render is running, not completed' },
  },
  'post /billing/checkout 409': {
    error: { code: 'already_subscribed', message: 'The workspace already has a subscription' },
  },
  'post /billing/grants 409': {
    error: {
      code: 'payments_configured',
      message: 'Credits are bought through Checkout while payments are configured',
    },
  },
  'post /billing/webhook 400': {
    error: { code: 'invalid_signature', message: 'stripe-signature does not match the body' },
  },
  'get /youtube/callback 400': {
    error: { code: 'invalid_state', message: 'state: unknown, used or expired' },
  },
  'get /auth/google/callback 400': {
    error: { code: 'invalid_state', message: 'state: unknown, used or expired' },
  },
  'post /projects/{id}/chat 429': {
    error: {
      code: 'daily_limit_reached',
      message: 'You sent 50 messages today; the limit resets at midnight UTC',
    },
  },
  'post /projects/{id}/chat 503': {
    error: { code: 'spend_cap_reached', message: "Today's AI spend cap is reached" },
  },
};
