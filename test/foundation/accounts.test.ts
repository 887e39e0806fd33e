import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

const password = 'correct horse battery';

describe.each(['pglite', 'postgres'] as const)('accounts on %s', (backend) => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ database: backend });
  });
  afterAll(() => node?.close());

  const signupBody = () => ({ email: `${randomUUID()}@Example.TEST`, password, name: 'Grace' });

  it('signs up with a normalised email, an Argon2id (OWASP) hash, and a first workspace', async () => {
    const body = signupBody();
    const response = await node.request('/api/v1/auth/signup', { method: 'POST', json: body });
    expect(response.status).toBe(201);
    const session = await response.json();
    expect(session).toMatchObject({
      user: { id: expect.any(String), email: body.email.toLowerCase(), name: 'Grace' },
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresIn: 900,
    });
    expect(session.user).not.toHaveProperty('passwordHash');
    const [row] = await node.database.db
      .select()
      .from(tables.users)
      .where(eq(tables.users.id, session.user.id));
    expect(row!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

    const workspaces = await node.request('/api/v1/workspaces', { token: session.accessToken });
    expect((await workspaces.json()).workspaces).toEqual([
      expect.objectContaining({ name: "Grace's workspace", role: 'owner' }),
    ]);
  });

  it('refuses a duplicate email (any case) with 409, also when signups race', async () => {
    const body = signupBody();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        node.request('/api/v1/auth/signup', {
          method: 'POST',
          json: { ...body, email: i % 2 ? body.email.toUpperCase() : body.email },
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    const conflict = await results.find((r) => r.status === 409)!.json();
    expect(conflict.error.code).toBe('email_taken');
    expect(
      await node.database.db.$count(tables.users, eq(tables.users.email, body.email.toLowerCase())),
    ).toBe(1);
    expect(await node.database.db.$count(tables.workspaces)).toBeGreaterThan(0);
  });

  it('gives the same answer for an unknown email and a wrong password', async () => {
    const body = signupBody();
    await node.request('/api/v1/auth/signup', { method: 'POST', json: body });
    const wrongPassword = await node.request('/api/v1/auth/login', {
      method: 'POST',
      json: { email: body.email, password: 'not the password' },
    });
    const unknownEmail = await node.request('/api/v1/auth/login', {
      method: 'POST',
      json: { email: `${randomUUID()}@example.test`, password },
    });
    expect(wrongPassword.status).toBe(401);
    expect(unknownEmail.status).toBe(401);
    expect(await wrongPassword.json()).toEqual(await unknownEmail.json());
    const ok = await node.request('/api/v1/auth/login', {
      method: 'POST',
      json: { email: body.email, password },
    });
    expect(ok.status).toBe(200);
  });

  it('rotates refresh tokens, and a reused old token revokes the whole family', async () => {
    const session = await node.signup();
    const first = await node.request('/api/v1/auth/refresh', {
      method: 'POST',
      json: { refreshToken: session.refreshToken },
    });
    expect(first.status).toBe(200);
    const pair = await first.json();
    expect(pair.refreshToken).not.toBe(session.refreshToken);
    const me = await node.request('/api/v1/me', { token: pair.accessToken });
    expect(me.status).toBe(200);

    const reuse = await node.request('/api/v1/auth/refresh', {
      method: 'POST',
      json: { refreshToken: session.refreshToken },
    });
    expect(reuse.status).toBe(401);
    expect((await reuse.json()).error.code).toBe('token_reused');
    // The successor was revoked with its family.
    const successor = await node.request('/api/v1/auth/refresh', {
      method: 'POST',
      json: { refreshToken: pair.refreshToken },
    });
    expect(successor.status).toBe(401);
  });

  it('lets exactly one of several concurrent refreshes with one token win', async () => {
    const session = await node.signup();
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        node.request('/api/v1/auth/refresh', {
          method: 'POST',
          json: { refreshToken: session.refreshToken },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(3);
  });

  it('logout revokes the refresh token', async () => {
    const session = await node.signup();
    const logout = await node.request('/api/v1/auth/logout', {
      method: 'POST',
      json: { refreshToken: session.refreshToken },
    });
    expect(logout.status).toBe(204);
    const refresh = await node.request('/api/v1/auth/refresh', {
      method: 'POST',
      json: { refreshToken: session.refreshToken },
    });
    expect(refresh.status).toBe(401);
  });

  it('accepts only access tokens with the pinned algorithm, issuer and audience', async () => {
    const session = await node.signup();
    const key = new TextEncoder().encode(node.jwtSecret);
    const forge = (issuer: string, audience: string, expiresIn = '5m') =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(session.user.id)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(key);
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        sub: session.user.id,
        iss: 'reelroom',
        aud: 'reelroom-api',
        exp: 9_999_999_999,
        iat: 1,
      }),
    ).toString('base64url');
    const cases = {
      none: `${header}.${payload}.`,
      wrongIssuer: await forge('someone-else', 'reelroom-api'),
      wrongAudience: await forge('reelroom', 'another-api'),
      expired: await forge('reelroom', 'reelroom-api', '-1m'),
      garbage: 'not-a-jwt',
    };
    for (const [name, token] of Object.entries(cases)) {
      const response = await node.request('/api/v1/me', { token });
      expect(response.status, name).toBe(401);
      expect((await response.json()).error.code, name).toBe('unauthorized');
    }
    expect((await node.request('/api/v1/me')).status).toBe(401);
    expect(
      (await node.request('/api/v1/me', { token: await forge('reelroom', 'reelroom-api') })).status,
    ).toBe(200);
  });
});

describe('login rate limits', () => {
  it('limits failed logins per email and IP with Retry-After, without locking out other IPs', async () => {
    const node = await startTestNode({ config: { trustProxy: true } });
    try {
      const session = await node.signup();
      const attempt = (ip: string, pw: string) =>
        node.request('/api/v1/auth/login', {
          method: 'POST',
          headers: { 'x-forwarded-for': ip },
          json: { email: session.user.email, password: pw },
        });
      for (let i = 0; i < 10; i += 1)
        expect((await attempt('10.0.0.1', 'wrong password')).status).toBe(401);
      const limited = await attempt('10.0.0.1', password);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await limited.json()).error.code).toBe('rate_limited');
      // The owner, from another address, is not locked out (test/security covers the rest).
      expect((await attempt('10.0.1.1', password)).status).toBe(200);
    } finally {
      await node.close();
    }
  });

  it('limits attempts per IP, shared by API nodes through Redis', async () => {
    const nodeA = await startTestNode({ redis: true, config: { trustProxy: true } });
    const nodeB = await startTestNode({
      redis: true,
      config: { trustProxy: true, redisKeyPrefix: nodeA.redisKeyPrefix },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 31; i += 1) {
        const target = i % 2 ? nodeA : nodeB;
        const response = await target.request('/api/v1/auth/login', {
          method: 'POST',
          headers: { 'x-forwarded-for': '203.0.113.7' },
          json: { email: `${randomUUID()}@example.test`, password },
        });
        statuses.push(response.status);
      }
      expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
      expect(statuses[30]).toBe(429);
      // Another IP is unaffected.
      const other = await nodeA.request('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'x-forwarded-for': '203.0.113.8' },
        json: { email: `${randomUUID()}@example.test`, password },
      });
      expect(other.status).toBe(401);
    } finally {
      await Promise.all([nodeA.close(), nodeB.close()]);
    }
  });
});
