import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { defaultAccount, FakeGoogle } from './support/fake-google.ts';

const CLIENT = { clientId: 'signin.apps.googleusercontent.com', clientSecret: 'signin-secret' };

describe('Sign in with Google against a local Google', () => {
  let google: FakeGoogle;
  let node: TestNode;
  const publicUrl = 'http://app.reelroom.test';

  /** The browser's trip: start, Google's consent, our callback; the loginCode it lands with. */
  const visit = async () => {
    const started = await node.request('/api/v1/auth/google/start', { redirect: 'manual' });
    expect(started.status).toBe(302);
    const consent = new URL(started.headers.get('location')!);
    const atGoogle = await fetch(consent, { redirect: 'manual' });
    const back = new URL(atGoogle.headers.get('location')!);
    const landed = await node.request(`${back.pathname}${back.search}`, { redirect: 'manual' });
    return { consent, back, landed };
  };
  const signIn = async () => {
    const { landed } = await visit();
    expect(landed.status).toBe(302);
    const location = landed.headers.get('location')!;
    expect(location.startsWith(`${publicUrl}/#loginCode=`)).toBe(true);
    const loginCode = location.split('#loginCode=')[1]!;
    const exchanged = await node.request('/api/v1/auth/google/exchange', {
      method: 'POST',
      json: { loginCode },
    });
    return {
      loginCode,
      status: exchanged.status,
      body: (await exchanged.json()) as {
        user: { id: string; email: string };
        accessToken: string;
        refreshToken: string;
      },
    };
  };

  beforeAll(async () => {
    google = await new FakeGoogle([CLIENT]).start();
    node = await startTestNode({
      config: { publicUrl, google: { clients: [CLIENT], apiBase: google.url } },
    });
  });

  afterAll(async () => {
    await node?.close();
    await google?.close();
  });

  it('asks for openid email profile with state and PKCE, and makes an account on the first visit', async () => {
    google.account = defaultAccount();
    const { consent } = await visit();
    expect(consent.origin + consent.pathname).toBe(`${google.url}/o/oauth2/v2/auth`);
    expect(consent.searchParams.get('scope')?.split(' ').sort()).toEqual([
      'email',
      'openid',
      'profile',
    ]);
    expect(consent.searchParams.get('code_challenge_method')).toBe('S256');
    expect(consent.searchParams.get('code_challenge')).toBeTruthy();
    expect(consent.searchParams.get('redirect_uri')).toBe(
      `${publicUrl}/api/v1/auth/google/callback`,
    );

    const first = await signIn();
    expect(first.status).toBe(200);
    expect(first.body.user.email).toBe(google.account.email);
    const me = await node.request('/api/v1/me', { token: first.body.accessToken });
    expect(me.status).toBe(200);
    // The loginCode is single use.
    const again = await node.request('/api/v1/auth/google/exchange', {
      method: 'POST',
      json: { loginCode: first.loginCode },
    });
    expect(again.status).toBe(401);
    // The next visit signs in to the same account.
    const second = await signIn();
    expect(second.body.user.id).toBe(first.body.user.id);
  });

  it('links an existing account only when Google says the email is verified', async () => {
    const existing = await node.signup('Grace');
    google.account = defaultAccount({ email: existing.user.email, emailVerified: false });
    const { landed } = await visit();
    expect(landed.status).toBe(409);

    google.account = defaultAccount({ email: existing.user.email, emailVerified: true });
    const linked = await signIn();
    expect(linked.status).toBe(200);
    expect(linked.body.user.id).toBe(existing.user.id);
  });

  it('refuses a forged state and an ID token for another audience', async () => {
    google.account = defaultAccount();
    const { back } = await visit();
    // That state was used: replaying the callback is refused.
    const replayed = await node.request(`${back.pathname}${back.search}`, { redirect: 'manual' });
    expect(replayed.status).toBe(400);
    const forged = new URL(back);
    forged.searchParams.set('state', randomBytes(32).toString('base64url'));
    const answer = await node.request(`${forged.pathname}${forged.search}`, { redirect: 'manual' });
    expect(answer.status).toBe(400);

    google.idTokenOverrides = { aud: 'someone-else.apps.googleusercontent.com' };
    const { landed } = await visit();
    google.idTokenOverrides = {};
    expect(landed.status).toBe(401);
  });
});
