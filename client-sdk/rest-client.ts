import { type ClientResponse, hc, type InferRequestType } from 'hono/client';
import type { SuccessStatusCode } from 'hono/utils/http-status';
import type { AppType } from '../server/http/app.ts';
import type { Session, User } from '../shared/accounts.ts';
import type { Features } from '../shared/features.ts';
import type { Project } from '../shared/projects.ts';
import type { Invitation, Member, Role, Workspace } from '../shared/workspaces.ts';
import { ReelroomApiError } from './api-error.ts';

/** The tokens a client holds; persist them to stay signed in. */
export type Tokens = Pick<Session, 'accessToken' | 'refreshToken'>;

export interface ReelroomClientOptions {
  /** Where the service listens, e.g. `http://localhost:8080` (without `/api/v1`). */
  baseUrl: string;
  /** Tokens of an earlier session, if any. */
  tokens?: Tokens;
  /** Called whenever the tokens change (login, refresh, logout), so the app can persist them. */
  onTokens?: (tokens: Tokens | undefined) => void;
  /** A fetch of your own (default: the global fetch). */
  fetch?: typeof fetch;
}

export interface Page {
  limit?: number;
  cursor?: string;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/**
 * The `/api/v1` routes as `hono/client` types them from the server's `AppType`: every route,
 * its params, query, body and each status's response, checked by `tsc` on both sides.
 */
export type ReelroomApi = ReturnType<typeof hc<AppType>>;

/** What a route answers when it succeeds (2xx), read from the route's own response types. */
type Success<R> =
  R extends ClientResponse<infer T, infer S, infer F>
    ? S extends SuccessStatusCode
      ? F extends 'json'
        ? T
        : undefined
      : never
    : never;
type Json<F> = InferRequestType<F> extends { json: infer J } ? J : never;
type Query<F> = InferRequestType<F> extends { query: infer Q } ? Q : never;

/** Reads a typed response: the 2xx body, or a thrown ReelroomApiError with the contract's code. */
async function read<R extends ClientResponse<unknown, number, string>>(
  pending: Promise<R>,
): Promise<Success<R>> {
  const response = await pending;
  if (!response.ok) throw await ReelroomApiError.from(response);
  if (response.status === 204) return undefined as Success<R>;
  // The one place a body meets its type: the route's declared response for this status.
  return (await response.json()) as Success<R>;
}

/**
 * A typed client for the REST contract (`/api/v1`), built on `hc<AppType>` so each call's
 * input and output types come from the server's routes. It keeps the session's tokens and,
 * when an access token has expired, refreshes once (shared by concurrent calls, since refresh
 * tokens rotate and a second use of the old one would revoke the session) and repeats the call.
 *
 * Every route has a method here; the raw typed client is `client.api` (with the same tokens
 * and refresh) for calls that need more control (headers, ranges, raw bodies).
 */
export class ReelroomClient {
  readonly baseUrl: string;
  /**
   * Every `/api/v1` route, typed: `client.api.projects[':id'].renders.$post({param, json})`.
   * Sends the access token and refreshes it once on a 401, like the methods below.
   */
  readonly api: ReelroomApi;
  /** The same routes without a token, for the calls that start or end a session. */
  readonly #public: ReelroomApi;
  #tokens: Tokens | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #fetch: typeof fetch;
  readonly #onTokens: ((tokens: Tokens | undefined) => void) | undefined;

  constructor(options: ReelroomClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#tokens = options.tokens;
    // Called through a wrapper: browsers refuse a `fetch` invoked with another `this` (Illegal
    // invocation), which `this.#fetch(...)` would be.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#onTokens = options.onTokens;
    const root = `${this.baseUrl}/api/v1`;
    const plain: typeof fetch = (input, init) => this.#fetch(input, init);
    const authorized: typeof fetch = (input, init) => this.#authorizedFetch(input, init);
    this.#public = hc<AppType>(root, { fetch: plain });
    this.api = hc<AppType>(root, { fetch: authorized });
  }

  /** The current tokens; the access token is what the Yjs and Socket.IO connections take. */
  get tokens(): Tokens | undefined {
    return this.#tokens;
  }

  readonly auth = {
    signup: async (body: Json<ReelroomApi['auth']['signup']['$post']>): Promise<Session> =>
      this.#startSession(await read(this.#public.auth.signup.$post({ json: body }))),
    login: async (body: Json<ReelroomApi['auth']['login']['$post']>): Promise<Session> =>
      this.#startSession(await read(this.#public.auth.login.$post({ json: body }))),
    /** Swaps the refresh token for a new pair; normally done for you on a 401. */
    refresh: (): Promise<void> => this.#refresh(),
    logout: async (): Promise<void> => {
      const refreshToken = this.#tokens?.refreshToken;
      this.#setTokens(undefined);
      if (refreshToken) await read(this.#public.auth.logout.$post({ json: { refreshToken } }));
    },
    me: async (): Promise<User> => (await read(this.api.me.$get())).user,
    /**
     * Where to send the browser to sign in with Google (`GET /auth/google/start`, a 302 to
     * Google). Google comes back to the web app with `#loginCode=`, which `googleExchange`
     * trades for a session.
     */
    googleStartUrl: (): string => this.#public.auth.google.start.$url().toString(),
    googleExchange: async (loginCode: string): Promise<Session> =>
      this.#startSession(
        await read(this.#public.auth.google.exchange.$post({ json: { loginCode } })),
      ),
  };

  readonly workspaces = {
    create: async (name: string): Promise<Workspace> =>
      (await read(this.api.workspaces.$post({ json: { name } }))).workspace,
    list: async (): Promise<Workspace[]> => (await read(this.api.workspaces.$get())).workspaces,
    get: async (id: string): Promise<Workspace> =>
      (await read(this.api.workspaces[':id'].$get({ param: { id } }))).workspace,
    members: async (id: string): Promise<Member[]> => (await this.workspaces.roster(id)).members,
    /** Members and the invitations still waiting for an account. */
    roster: (id: string) => read(this.api.workspaces[':id'].members.$get({ param: { id } })),
    /**
     * Adds by email: `{member}` when the email has an account (a member at once), `{invitation}`
     * when it has none yet (it joins when it signs up).
     */
    addMember: async (
      id: string,
      email: string,
      role: Role,
    ): Promise<{ member: Member } | { invitation: Invitation }> =>
      read(this.api.workspaces[':id'].members.$post({ param: { id }, json: { email, role } })),
    /** Revokes an invitation that is still waiting (owners). */
    revokeInvitation: async (id: string, invitationId: string): Promise<void> => {
      await read(
        this.api.workspaces[':id'].invitations[':invitationId'].$delete({
          param: { id, invitationId },
        }),
      );
    },
    updateMember: async (id: string, userId: string, role: Role): Promise<Member> =>
      (
        await read(
          this.api.workspaces[':id'].members[':userId'].$patch({
            param: { id, userId },
            json: { role },
          }),
        )
      ).member,
    removeMember: async (id: string, userId: string): Promise<void> => {
      await read(this.api.workspaces[':id'].members[':userId'].$delete({ param: { id, userId } }));
    },
    projects: (id: string, page: Page = {}) =>
      read(this.api.workspaces[':id'].projects.$get({ param: { id }, query: pageQuery(page) })),
  };

  readonly projects = {
    create: async (body: Json<ReelroomApi['projects']['$post']>): Promise<Project> =>
      (await read(this.api.projects.$post({ json: body }))).project,
    get: async (id: string): Promise<Project> =>
      (await read(this.api.projects[':id'].$get({ param: { id } }))).project,
    update: async (
      id: string,
      body: Json<ReelroomApi['projects'][':id']['$patch']>,
    ): Promise<Project> =>
      (await read(this.api.projects[':id'].$patch({ param: { id }, json: body }))).project,
    delete: async (id: string): Promise<void> => {
      await read(this.api.projects[':id'].$delete({ param: { id } }));
    },
    /** The script as plain text, for clients without Yjs. */
    script: async (id: string) =>
      (await read(this.api.projects[':id'].script.$get({ param: { id } }))).script,
    costs: async (id: string) =>
      (await read(this.api.projects[':id'].costs.$get({ param: { id } }))).costs,
  };

  readonly renders = {
    /** Queues a render of a spec (editors); progress arrives as `render:progress`. */
    submit: async (
      projectId: string,
      body: Json<ReelroomApi['projects'][':id']['renders']['$post']>,
    ) =>
      (await read(this.api.projects[':id'].renders.$post({ param: { id: projectId }, json: body })))
        .render,
    list: (projectId: string, page: Page = {}) =>
      read(
        this.api.projects[':id'].renders.$get({ param: { id: projectId }, query: pageQuery(page) }),
      ),
    get: async (id: string) => (await read(this.api.renders[':id'].$get({ param: { id } }))).render,
    cancel: async (id: string) =>
      (await read(this.api.renders[':id'].cancel.$post({ param: { id } }))).render,
    /** The MP4 (pass `{headers: {range: 'bytes=0-'}}` for a part); the body streams. */
    output: (id: string, init: RequestInit = {}) =>
      file(this.api.renders[':id'].output.$get({ param: { id }, query: {} }, { init })),
    thumbnail: (id: string, init: RequestInit = {}) =>
      file(this.api.renders[':id'].thumbnail.$get({ param: { id }, query: {} }, { init })),
  };

  readonly pipeline = {
    /** Starts a run (editors); each step reports `pipeline:progress` to the room. */
    start: async (
      projectId: string,
      body: Json<ReelroomApi['projects'][':id']['pipeline-runs']['$post']> = {},
    ) =>
      (
        await read(
          this.api.projects[':id']['pipeline-runs'].$post({ param: { id: projectId }, json: body }),
        )
      ).run,
    list: (projectId: string, page: Page = {}) =>
      read(
        this.api.projects[':id']['pipeline-runs'].$get({
          param: { id: projectId },
          query: pageQuery(page),
        }),
      ),
    get: async (id: string) =>
      (await read(this.api['pipeline-runs'][':id'].$get({ param: { id } }))).run,
    cancel: async (id: string) =>
      (await read(this.api['pipeline-runs'][':id'].cancel.$post({ param: { id } }))).run,
    /** Resumes a failed or cancelled run from its first step that did not complete. */
    retry: async (id: string) =>
      (await read(this.api['pipeline-runs'][':id'].retry.$post({ param: { id } }))).run,
  };

  readonly assets = {
    /**
     * Uploads an image (PNG, JPEG) or audio file (WAV, MP3) to a project (editors), sent as
     * `multipart/form-data` with the file in the `file` field.
     */
    upload: async (projectId: string, data: Blob, fileName = 'upload') => {
      const form = new FormData();
      form.append('file', data, fileName);
      return (
        await read(
          this.api.projects[':id'].assets.$post(
            { param: { id: projectId } },
            { init: { body: form } },
          ),
        )
      ).asset;
    },
    list: (projectId: string, page: Page = {}) =>
      read(
        this.api.projects[':id'].assets.$get({ param: { id: projectId }, query: pageQuery(page) }),
      ),
    get: async (id: string) => (await read(this.api.assets[':id'].$get({ param: { id } }))).asset,
    /** The asset's bytes (range requests through `init.headers`); the body streams. */
    content: (id: string, init: RequestInit = {}) =>
      file(this.api.assets[':id'].content.$get({ param: { id } }, { init })),
  };

  readonly billing = {
    /** Credit packages, plans and prices; no sign-in needed. */
    packages: () => read(this.#public.billing.packages.$get()),
    balance: (workspaceId: string) =>
      read(this.api.billing.balance.$get({ query: { workspaceId } })),
    transactions: (workspaceId: string, page: Page = {}) =>
      read(this.api.billing.transactions.$get({ query: { workspaceId, ...pageQuery(page) } })),
    /** A Stripe Checkout page for a package or plan (owners); send the buyer to `url`. */
    checkout: (body: Json<ReelroomApi['billing']['checkout']['$post']>) =>
      read(this.api.billing.checkout.$post({ json: body })),
    /** Adds credits while payments are not configured (owners). */
    grant: (body: Json<ReelroomApi['billing']['grants']['$post']>) =>
      read(this.api.billing.grants.$post({ json: body })),
  };

  readonly coach = {
    profile: async () => (await read(this.api.coach.profile.$get())).profile,
    saveProfile: async (body: Json<ReelroomApi['coach']['profile']['$put']>) =>
      (await read(this.api.coach.profile.$put({ json: body }))).profile,
    templates: async () => (await read(this.api.coach.templates.$get())).templates,
    /** A workspace's coach usage by member and by day (owners). */
    usage: async (query: Query<ReelroomApi['coach']['usage']['$get']>) =>
      (await read(this.api.coach.usage.$get({ query }))).usage,
    /**
     * Sends a chat message over REST (the socket's `chat:send` does the same); the reply
     * streams to the room as `chat:token` under `replyId`.
     */
    send: (projectId: string, content: string) =>
      read(this.api.projects[':id'].chat.$post({ param: { id: projectId }, json: { content } })),
    messages: (projectId: string, page: Page = {}) =>
      read(
        this.api.projects[':id'].chat.messages.$get({
          param: { id: projectId },
          query: pageQuery(page),
        }),
      ),
    decisions: async (projectId: string) =>
      (await read(this.api.projects[':id'].decisions.$get({ param: { id: projectId } }))).decisions,
    plan: async (projectId: string) =>
      (await read(this.api.projects[':id'].plan.$get({ param: { id: projectId } }))).plan,
    /** Starts the plan from a template (editors); decisions are kept. */
    applyTemplate: async (projectId: string, templateId: string) =>
      (
        await read(
          this.api.projects[':id'].plan.$post({ param: { id: projectId }, json: { templateId } }),
        )
      ).plan,
    setTask: async (projectId: string, taskId: string, done: boolean) =>
      (
        await read(
          this.api.projects[':id'].plan.tasks[':taskId'].$patch({
            param: { id: projectId, taskId },
            json: { done },
          }),
        )
      ).plan,
  };

  readonly youtube = {
    /** Google's consent page for connecting a channel (owners and editors). */
    connect: (workspaceId: string) =>
      read(this.api.youtube.connect.$post({ json: { workspaceId } })),
    channels: async (workspaceId: string) =>
      (await read(this.api.youtube.channels.$get({ query: { workspaceId } }))).channels,
    disconnect: async (id: string): Promise<void> => {
      await read(this.api.youtube.channels[':id'].$delete({ param: { id } }));
    },
    quota: async (workspaceId: string) =>
      (await read(this.api.youtube.quota.$get({ query: { workspaceId } }))).pools,
  };

  /** Liveness and readiness (`/api/v1/health`, `/api/v1/ready`); no sign-in needed. */
  readonly operations = {
    health: () => read(this.#public.health.$get()),
    /** Which optional parts this server has configured (payments, Google sign-in, YouTube). */
    features: async () => (await read(this.#public.features.$get())).features,
    ready: async () => {
      const response = await this.#public.ready.$get();
      // 503 is an answer here, not a failure: it says which dependency is down.
      return response.json();
    },
  };

  /**
   * Any route by method and path (relative to `/api/v1`), untyped: resolves to the parsed JSON
   * body (undefined for 204), rejects with ReelroomApiError. Prefer the typed methods or
   * `client.api`; this stays for callers written before them.
   */
  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.#authorizedFetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw await ReelroomApiError.from(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /**
   * The fetch behind `api`: adds the access token, and on a 401 refreshes once and sends the
   * request again (its body is a string or FormData from `hc`, so it can be sent twice).
   */
  async #authorizedFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const send = () => {
      const headers = new Headers(init.headers);
      if (this.#tokens) headers.set('authorization', `Bearer ${this.#tokens.accessToken}`);
      return this.#fetch(input, { ...init, headers });
    };
    const response = await send();
    if (response.status !== 401 || !this.#tokens?.refreshToken) return response;
    await response.body?.cancel();
    await this.#refresh();
    return send();
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const refreshToken = this.#tokens?.refreshToken;
        if (!refreshToken) throw new ReelroomApiError(401, 'unauthorized', 'Not signed in');
        const pair = await read(this.#public.auth.refresh.$post({ json: { refreshToken } }));
        this.#setTokens({ accessToken: pair.accessToken, refreshToken: pair.refreshToken });
      } catch (error) {
        // A refused refresh token (expired, reused, logged out) ends the session.
        if (error instanceof ReelroomApiError && error.status === 401) this.#setTokens(undefined);
        throw error;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  #startSession(session: Session): Session {
    this.#setTokens({ accessToken: session.accessToken, refreshToken: session.refreshToken });
    return session;
  }

  #setTokens(tokens: Tokens | undefined): void {
    this.#tokens = tokens;
    this.#onTokens?.(tokens);
  }

  // ---- added for the web app's panels (issue 14): `GET /features` ----
  /**
   * What the server has configured (payments, Sign in with Google, YouTube), so a page shows
   * only controls that can work; no sign-in needed.
   */
  async features(): Promise<Features> {
    return (await read(this.#public.features.$get())).features;
  }
  // ---- end of the web app's additions ----
}

/** A file route's answer as a plain Response (status 200 or 206), or a ReelroomApiError. */
async function file(pending: Promise<ClientResponse<unknown, number, string>>): Promise<Response> {
  const response = await pending;
  if (!response.ok) throw await ReelroomApiError.from(response);
  // `hc` hands back fetch's own Response; its type only narrows what `json()` returns.
  return response as unknown as Response;
}

/** A page without the keys left out (`hc` would send `undefined` as text otherwise). */
function pageQuery(page: Page): { limit?: string; cursor?: string } {
  return {
    ...(page.limit !== undefined && { limit: String(page.limit) }),
    ...(page.cursor !== undefined && { cursor: page.cursor }),
  };
}
