import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import type { Session } from '../../shared/accounts.ts';
import { CloseCodes } from '../../shared/close-codes.ts';
import { connectSocket, connectYjs } from '../realtime/support/clients.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { api, json } from './support/route-table.ts';
import { Tally } from './support.ts';

// Issue 15, item 5: forged, misdirected, expired and orphaned tokens on REST (`GET /me`), the
// Socket.IO handshake and a Yjs connection; and refresh-token reuse revoking the family.

const ISSUER = 'reelroom';
const AUDIENCE = 'reelroom-api';

let node: TestNode;
let victim: Session;
let projectId: string;
const wsUrl = () => node.url.replace(/^http/, 'ws');

beforeAll(async () => {
  node = await startTestNode({ config: { renderWorkers: false, pipeline: { workers: false } } });
  victim = await node.signup('Victim');
  const workspaces = await json(await api(node, victim, '/workspaces'));
  const created = await json(
    await api(node, victim, '/projects', {
      method: 'POST',
      json: { workspaceId: workspaces.workspaces[0].id, title: 'Tokens', topic: 'Tokens' },
    }),
  );
  projectId = created.project.id;
}, 60_000);
afterAll(() => node?.close());

interface Claims {
  key?: Uint8Array;
  alg?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative is in the past. */
  expiresIn?: number;
  issuedAgo?: number;
}

/** A JWT for `userId`; the defaults are what the server itself signs. */
function mint(userId: string, claims: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: claims.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(claims.issuer ?? ISSUER)
    .setAudience(claims.audience ?? AUDIENCE)
    .setIssuedAt(now - (claims.issuedAgo ?? 0))
    .setExpirationTime(now + (claims.expiresIn ?? 900))
    .sign(claims.key ?? new TextEncoder().encode(node.jwtSecret));
}

/** The attacks, each a token claiming to be `userId`. */
async function attacks(userId: string): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000);
  const none = new UnsecuredJWT({})
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 900)
    .encode();
  const valid = await mint(userId);
  const [header, payload] = valid.split('.');
  return {
    'alg none': none,
    'alg none, signature kept': `${none.split('.')[0]}.${payload}.${valid.split('.')[2]}`,
    'HS256 with a wrong key': await mint(userId, { key: randomBytes(32) }),
    'HS512 with the right key': await mint(userId, { alg: 'HS512' }),
    'wrong audience': await mint(userId, { audience: 'reelroom-admin' }),
    'wrong issuer': await mint(userId, { issuer: 'evil' }),
    expired: await mint(userId, { expiresIn: -60, issuedAgo: 1000 }),
    'payload swapped under a valid signature': `${header}.${Buffer.from(
      JSON.stringify({ sub: userId, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 99_999 }),
    ).toString('base64url')}.${valid.split('.')[2]}`,
    garbage: 'not-a-jwt',
  };
}

/** Whether a Socket.IO handshake with `token` is refused. */
async function socketRefused(token: string): Promise<string | null> {
  const socket = connectSocket(node.url, token, { reconnection: false, timeout: 5000 });
  const outcome = await new Promise<string>((resolve) => {
    socket.on('connect', () => resolve('connected'));
    socket.on('connect_error', () => resolve('refused'));
  });
  socket.disconnect();
  return outcome === 'refused' ? null : `socket ${outcome}`;
}

/** Whether a Yjs connection with `token` is closed with 4401/4403 and never synced. */
async function yjsRefused(token: string): Promise<string | null> {
  const client = connectYjs(wsUrl(), `project/${projectId}/script`, token);
  try {
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no answer in 5 s'), 5000);
      client.provider.on('sync', (synced: boolean) => {
        if (synced) {
          clearTimeout(timer);
          resolve('synced');
        }
      });
      client.provider.on('connection-close', (event) => {
        clearTimeout(timer);
        resolve(`closed ${event?.code}`);
      });
    });
    const refused = [CloseCodes.Unauthorized, CloseCodes.Forbidden].map((c) => `closed ${c}`);
    return refused.includes(outcome) ? null : `yjs ${outcome}`;
  } finally {
    client.destroy();
  }
}

async function restRefused(token: string): Promise<string | null> {
  const response = await node.request('/api/v1/me', { token });
  const body = await json(response);
  return response.status === 401 && body.error?.code ? null : `REST ${response.status}`;
}

describe('security: token attacks', () => {
  it('the server accepts its own kind of token (control)', async () => {
    const token = await mint(victim.user.id);
    expect((await node.request('/api/v1/me', { token })).status).toBe(200);
    expect(await socketRefused(token)).toBe('socket connected');
    expect(await yjsRefused(token)).toBe('yjs synced');
  });

  it('refuses forged, misdirected and expired access tokens on REST, Socket.IO and Yjs', async () => {
    const tally = new Tally('token-attacks');
    for (const [name, token] of Object.entries(await attacks(victim.user.id))) {
      tally.record(`${name} on REST`, await restRefused(token));
      tally.record(`${name} on Socket.IO`, await socketRefused(token));
      tally.record(`${name} on Yjs`, await yjsRefused(token));
    }
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });

  it('a reused refresh token revokes its whole family', async () => {
    const tally = new Tally('refresh-reuse');
    const session = await node.signup('Refresher');
    const refresh = (refreshToken: string) =>
      node.request('/api/v1/auth/refresh', { method: 'POST', json: { refreshToken } });
    const first = await refresh(session.refreshToken);
    const rotated = await json(first);
    tally.record('first use rotates', first.status === 200 ? null : `${first.status}`);
    const reused = await refresh(session.refreshToken);
    tally.record('reused old token is 401', reused.status === 401 ? null : `${reused.status}`);
    const newer = await refresh(rotated.refreshToken);
    tally.record(
      'the newer token of the family is revoked too',
      newer.status === 401 ? null : `${newer.status}`,
    );
    const garbage = await refresh('x'.repeat(64));
    tally.record('unknown token is 401', garbage.status === 401 ? null : `${garbage.status}`);
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });

  it("a deleted user's still-valid access token is refused everywhere", async () => {
    const tally = new Tally('deleted-user');
    const gone = await node.signup('Leaver');
    const workspaces = await json(await api(node, gone, '/workspaces'));
    const created = await json(
      await api(node, gone, '/projects', {
        method: 'POST',
        json: { workspaceId: workspaces.workspaces[0].id, title: 'Gone', topic: 'Gone' },
      }),
    );
    expect(created.project?.id).toBeTruthy();
    await node.database.db.delete(tables.users).where(eq(tables.users.id, gone.user.id));
    tally.record('REST GET /me', await restRefused(gone.accessToken));
    tally.record('Socket.IO handshake', await socketRefused(gone.accessToken));
    const client = connectYjs(wsUrl(), `project/${created.project.id}/script`, gone.accessToken);
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no answer'), 5000);
      client.provider.on('sync', (synced: boolean) => synced && resolve('synced'));
      client.provider.on('connection-close', (event) => {
        clearTimeout(timer);
        resolve(`closed ${event?.code}`);
      });
    });
    client.destroy();
    tally.record(
      'Yjs connection',
      outcome === `closed ${CloseCodes.Unauthorized}` ||
        outcome === `closed ${CloseCodes.Forbidden}`
        ? null
        : outcome,
    );
    tally.report();
    expect(tally.broken).toEqual([]);
    expect(tally.held).toBe(tally.tried);
  });
});
