import { createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Google account the consent page signs in as. */
export interface FakeAccount {
  sub: string;
  email: string;
  emailVerified: boolean;
  name: string;
  /** The YouTube channel of the account (absent: none). */
  channel?: { id: string; title: string };
}

interface Grant {
  clientId: string;
  account: FakeAccount;
  scope: string;
  redirectUri: string;
  nonce?: string | undefined;
  codeChallenge?: string | undefined;
}

interface UploadSession {
  clientId: string;
  account: FakeAccount;
  total: number;
  received: Buffer;
  metadata: unknown;
  videoId?: string;
}

/** What the fake records of each call, for tests to check what reached "Google". */
export interface FakeCall {
  method: string;
  path: string;
}

/**
 * A local stand-in for Google on 127.0.0.1 (port 0) speaking the wire formats the official
 * SDKs speak, all under one base (GOOGLE_API_BASE): the consent page, the token endpoint
 * (authorization_code and refresh_token grants), revocation, the signing certificates (PEM and
 * JWK, RS256 ID tokens), user info, `channels.list`, `thumbnails.set`, and YouTube's resumable
 * uploads (session start with `Location`, chunks with `Content-Range`, 308 with `Range`, the
 * `bytes *\/total` status query), plus the quota errors and a switch to drop a connection
 * in the middle of a chunk.
 */
export class FakeGoogle {
  url = '';
  readonly calls: FakeCall[] = [];
  /** Who signs in on the consent page next. */
  account: FakeAccount = defaultAccount();
  /** Every uploaded video: id -> bytes, metadata, thumbnail. */
  readonly videos = new Map<string, { bytes: Buffer; metadata: unknown; thumbnail?: Buffer }>();
  readonly revoked = new Set<string>();
  /** Refresh grants answered (the SDK refreshing an access token). */
  refreshGrants = 0;
  /** Answer every quota-spending Data API call with 403 `quotaExceeded`. */
  quotaExceeded = false;
  /** Answer session starts with 403 `uploadLimitExceeded`. */
  uploadLimitExceeded = false;
  /** Drop the connection of the next chunk PUT after this many of its bytes. */
  dropNextChunkAfter: number | undefined;
  /** Answer the next chunk PUTs with 503 (after storing nothing). */
  failNextChunks = 0;
  /**
   * Once a session holds this many bytes, its chunk PUTs get no answer until
   * {@link releaseStalledChunks} (a worker can be killed in the middle of one).
   */
  stallChunksAfterBytes: number | undefined;
  readonly #stalled: ServerResponse[] = [];
  /** Claims the next ID tokens carry instead of the real ones (a wrong `aud`, say). */
  idTokenOverrides: Record<string, unknown> = {};
  /** Access tokens live this long (seconds). */
  accessTokenSeconds = 3600;

  readonly clients = new Map<string, string>();
  readonly #codes = new Map<string, Grant>();
  readonly #refresh = new Map<string, Grant>();
  readonly #access = new Map<string, { grant: Grant; expiresAt: number }>();
  readonly #uploads = new Map<string, UploadSession>();
  readonly #keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly #kid = randomBytes(8).toString('hex');
  #server: Server | undefined;

  constructor(clients: Array<{ clientId: string; clientSecret: string }>) {
    for (const c of clients) this.clients.set(c.clientId, c.clientSecret);
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, { error: { code: 500, message: String(error) } });
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }

  /** Makes every access token issued so far expired (the SDK must refresh). */
  expireAccessTokens(): void {
    for (const entry of this.#access.values()) entry.expiresAt = 0;
  }

  /** Every refresh token issued, for scans of the database for plain text. */
  get refreshTokens(): string[] {
    return [...this.#refresh.keys()];
  }

  /** Google forgets every unfinished upload session: their URIs answer 404 from now on. */
  expireUploadSessions(): void {
    for (const [id, session] of this.#uploads) if (!session.videoId) this.#uploads.delete(id);
  }

  /** Ends the stalled chunk PUTs with a dropped connection (nothing of them is kept). */
  releaseStalledChunks(): void {
    this.stallChunksAfterBytes = undefined;
    for (const res of this.#stalled.splice(0)) res.socket?.destroy();
  }

  /** Chunk PUTs being held (see {@link stallChunksAfterBytes}). */
  get stalledChunks(): number {
    return this.#stalled.filter((res) => !res.socket?.destroyed).length;
  }

  /** Bytes an unfinished upload session holds. */
  sessionBytes(): number[] {
    return [...this.#uploads.values()].map((s) => s.received.length);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.calls.push({ method: req.method ?? 'GET', path: url.pathname });
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /o/oauth2/v2/auth') return this.#consent(url, res);
    if (route === 'POST /token') return this.#token(req, res);
    if (route === 'POST /revoke') {
      const body = new URLSearchParams((await readBody(req)).toString());
      const token = url.searchParams.get('token') ?? body.get('token') ?? '';
      if (!this.#refresh.has(token) && !this.#access.has(token)) {
        return send(res, 400, {
          error: 'invalid_token',
          error_description: 'Token expired or revoked',
        });
      }
      this.revoked.add(token);
      this.#refresh.delete(token);
      return send(res, 200, {});
    }
    if (route === 'GET /oauth2/v3/certs') {
      const jwk = this.#keys.publicKey.export({ format: 'jwk' });
      return send(res, 200, { keys: [{ ...jwk, kid: this.#kid, alg: 'RS256', use: 'sig' }] });
    }
    if (route === 'GET /oauth2/v1/certs') {
      return send(res, 200, {
        [this.#kid]: this.#keys.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      });
    }
    const grant = this.#authorized(req);
    if (!grant) {
      await readBody(req);
      return send(
        res,
        401,
        apiError(401, 'authError', 'Request had invalid authentication credentials.', 'global'),
      );
    }
    if (route === 'GET /oauth2/v3/userinfo') {
      const a = grant.account;
      return send(res, 200, {
        sub: a.sub,
        email: a.email,
        email_verified: a.emailVerified,
        name: a.name,
      });
    }
    if (route === 'GET /youtube/v3/channels') {
      if (this.quotaExceeded) return send(res, 403, quotaError());
      const channel = grant.account.channel;
      return send(res, 200, {
        kind: 'youtube#channelListResponse',
        pageInfo: { totalResults: channel ? 1 : 0, resultsPerPage: 5 },
        items: channel
          ? [{ kind: 'youtube#channel', id: channel.id, snippet: { title: channel.title } }]
          : [],
      });
    }
    if (
      req.method === 'POST' &&
      (url.pathname === '/upload/youtube/v3/thumbnails/set' ||
        url.pathname === '/youtube/v3/thumbnails/set')
    ) {
      const body = await readBody(req);
      if (this.quotaExceeded) return send(res, 403, quotaError());
      const video = this.videos.get(url.searchParams.get('videoId') ?? '');
      if (!video)
        return send(
          res,
          404,
          apiError(404, 'videoNotFound', 'The video was not found.', 'youtube.thumbnail'),
        );
      video.thumbnail = body;
      return send(res, 200, {
        kind: 'youtube#thumbnailSetResponse',
        items: [
          { default: { url: `${this.url}/vi/${url.searchParams.get('videoId')}/default.jpg` } },
        ],
      });
    }
    if (route === 'POST /upload/youtube/v3/videos') return this.#startUpload(req, url, grant, res);
    if (route === 'PUT /upload/youtube/v3/videos') return this.#putChunk(req, url, res);
    await readBody(req);
    send(res, 404, apiError(404, 'notFound', `no route ${route}`, 'global'));
  }

  /** The consent page: signs in as `account` and redirects with a code at once. */
  #consent(url: URL, res: ServerResponse) {
    const clientId = url.searchParams.get('client_id') ?? '';
    const redirectUri = url.searchParams.get('redirect_uri') ?? '';
    if (!this.clients.has(clientId)) return send(res, 400, { error: 'invalid_client' });
    const code = `4/${randomBytes(24).toString('base64url')}`;
    this.#codes.set(code, {
      clientId,
      account: this.account,
      scope: url.searchParams.get('scope') ?? '',
      redirectUri,
      nonce: url.searchParams.get('nonce') ?? undefined,
      codeChallenge: url.searchParams.get('code_challenge') ?? undefined,
    });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    const state = url.searchParams.get('state');
    if (state) target.searchParams.set('state', state);
    res.writeHead(302, { Location: target.toString() }).end();
  }

  async #token(req: IncomingMessage, res: ServerResponse) {
    const form = new URLSearchParams((await readBody(req)).toString());
    let clientId = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? '';
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic)
      [clientId, secret] = Buffer.from(basic[1]!, 'base64').toString().split(':') as [
        string,
        string,
      ];
    if (this.clients.get(clientId) !== secret) {
      return send(res, 401, {
        error: 'invalid_client',
        error_description: 'The OAuth client was not found.',
      });
    }
    if (form.get('grant_type') === 'authorization_code') {
      const code = form.get('code') ?? '';
      const grant = this.#codes.get(code);
      this.#codes.delete(code);
      if (!grant || grant.clientId !== clientId || grant.redirectUri !== form.get('redirect_uri')) {
        return send(res, 400, {
          error: 'invalid_grant',
          error_description: 'Malformed auth code.',
        });
      }
      if (grant.codeChallenge) {
        const { createHash } = await import('node:crypto');
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== grant.codeChallenge) {
          return send(res, 400, {
            error: 'invalid_grant',
            error_description: 'Invalid code verifier.',
          });
        }
      }
      const refreshToken = `1//${randomBytes(32).toString('base64url')}`;
      this.#refresh.set(refreshToken, grant);
      return send(res, 200, {
        access_token: this.#issueAccess(grant),
        expires_in: this.accessTokenSeconds,
        refresh_token: refreshToken,
        scope: grant.scope,
        token_type: 'Bearer',
        ...(grant.scope.split(' ').includes('openid')
          ? { id_token: this.idToken(grant, this.idTokenOverrides) }
          : {}),
      });
    }
    if (form.get('grant_type') === 'refresh_token') {
      const grant = this.#refresh.get(form.get('refresh_token') ?? '');
      if (!grant || grant.clientId !== clientId) {
        return send(res, 400, {
          error: 'invalid_grant',
          error_description: 'Token has been expired or revoked.',
        });
      }
      this.refreshGrants++;
      return send(res, 200, {
        access_token: this.#issueAccess(grant),
        expires_in: this.accessTokenSeconds,
        scope: grant.scope,
        token_type: 'Bearer',
      });
    }
    send(res, 400, { error: 'unsupported_grant_type' });
  }

  #issueAccess(grant: Grant): string {
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.#access.set(token, { grant, expiresAt: Date.now() + this.accessTokenSeconds * 1000 });
    return token;
  }

  /** An RS256 ID token for a grant, signed with the key the certs endpoints serve. */
  idToken(grant: Grant, overrides: Record<string, unknown> = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: this.#kid, typ: 'JWT' };
    const payload = {
      iss: 'https://accounts.google.com',
      aud: grant.clientId,
      azp: grant.clientId,
      sub: grant.account.sub,
      email: grant.account.email,
      email_verified: grant.account.emailVerified,
      name: grant.account.name,
      iat: now,
      exp: now + 3600,
      ...(grant.nonce ? { nonce: grant.nonce } : {}),
      ...overrides,
    };
    const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
    const signed = `${encode(header)}.${encode(payload)}`;
    const signature = createSign('RSA-SHA256').update(signed).sign(this.#keys.privateKey);
    return `${signed}.${signature.toString('base64url')}`;
  }

  #authorized(req: IncomingMessage): Grant | undefined {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const entry = token ? this.#access.get(token) : undefined;
    if (!entry || entry.expiresAt <= Date.now()) return undefined;
    return entry.grant;
  }

  async #startUpload(req: IncomingMessage, url: URL, grant: Grant, res: ServerResponse) {
    const body = await readBody(req);
    if (url.searchParams.get('uploadType') !== 'resumable') {
      return send(res, 400, apiError(400, 'badRequest', 'only resumable uploads here', 'global'));
    }
    if (this.quotaExceeded) return send(res, 403, quotaError());
    if (this.uploadLimitExceeded) {
      return send(
        res,
        403,
        apiError(
          403,
          'uploadLimitExceeded',
          'The user has exceeded the number of videos they may upload.',
          'youtube.video',
        ),
      );
    }
    const total = Number(req.headers['x-upload-content-length']);
    const id = randomUUID();
    this.#uploads.set(id, {
      clientId: grant.clientId,
      account: grant.account,
      total,
      received: Buffer.alloc(0),
      metadata: body.length ? JSON.parse(body.toString()) : {},
    });
    res
      .writeHead(200, {
        Location: `${this.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id=${id}`,
        'Content-Length': '0',
      })
      .end();
  }

  async #putChunk(req: IncomingMessage, url: URL, res: ServerResponse) {
    const session = this.#uploads.get(url.searchParams.get('upload_id') ?? '');
    const range = req.headers['content-range'] ?? '';
    if (!session) {
      await readBody(req);
      return send(res, 404, apiError(404, 'notFound', 'upload session not found', 'global'));
    }
    const status = /^bytes \*\/(\d+)$/.exec(range);
    if (status) {
      await readBody(req);
      return this.#answerUpload(session, res);
    }
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range);
    if (!match) {
      await readBody(req);
      return send(res, 400, apiError(400, 'badContentRange', 'bad Content-Range', 'global'));
    }
    const start = Number(match[1]);
    if (this.dropNextChunkAfter !== undefined) {
      // Keep what arrived of the chunk up to the limit, then cut the connection.
      const limit = this.dropNextChunkAfter;
      this.dropNextChunkAfter = undefined;
      const kept: Buffer[] = [];
      let got = 0;
      await new Promise<void>((resolve) => {
        req.on('data', (part: Buffer) => {
          if (got >= limit) return;
          kept.push(part.subarray(0, limit - got));
          got += part.length;
          if (got >= limit) {
            req.socket.destroy();
            resolve();
          }
        });
        req.on('end', resolve);
        req.on('close', resolve);
      });
      // Google keeps whole 256 KiB units of an interrupted chunk.
      const bytes = Buffer.concat(kept);
      const whole = bytes.subarray(0, bytes.length - (bytes.length % (256 * 1024)));
      if (start === session.received.length)
        session.received = Buffer.concat([session.received, whole]);
      return;
    }
    const body = await readBody(req);
    if (
      this.stallChunksAfterBytes !== undefined &&
      session.received.length >= this.stallChunksAfterBytes
    ) {
      this.#stalled.push(res);
      return;
    }
    if (this.failNextChunks > 0) {
      this.failNextChunks--;
      return send(res, 503, apiError(503, 'backendError', 'Backend Error', 'global'));
    }
    if (start !== session.received.length) {
      // Google answers with what it has; the client resumes from there.
      return this.#answerUpload(session, res);
    }
    session.received = Buffer.concat([session.received, body]);
    return this.#answerUpload(session, res);
  }

  #answerUpload(session: UploadSession, res: ServerResponse) {
    if (session.received.length >= session.total) {
      if (!session.videoId) {
        session.videoId = randomBytes(8).toString('base64url').slice(0, 11);
        this.videos.set(session.videoId, { bytes: session.received, metadata: session.metadata });
      }
      return send(res, 200, {
        kind: 'youtube#video',
        id: session.videoId,
        ...(session.metadata as object),
      });
    }
    const headers: Record<string, string> = { 'Content-Length': '0' };
    if (session.received.length > 0) headers.Range = `bytes=0-${session.received.length - 1}`;
    res.writeHead(308, headers).end();
  }
}

export function defaultAccount(overrides: Partial<FakeAccount> = {}): FakeAccount {
  const id = randomBytes(6).toString('hex');
  return {
    sub: `1${Date.now()}${Math.floor(Math.random() * 1000)}`,
    email: `creator-${id}@example.com`,
    emailVerified: true,
    name: `Creator ${id}`,
    channel: { id: `UC${randomBytes(11).toString('base64url')}`, title: `Channel ${id}` },
    ...overrides,
  };
}

function apiError(code: number, reason: string, message: string, domain: string) {
  return { error: { code, message, errors: [{ message, domain, reason }] } };
}

function quotaError() {
  return apiError(
    403,
    'quotaExceeded',
    'The request cannot be completed because you have exceeded your quota.',
    'youtube.quota',
  );
}

function send(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
