import type { z } from 'zod';
import type { loginBodySchema, Session, signupBodySchema, User } from '../shared/accounts.ts';
import type {
  createProjectBodySchema,
  Project,
  updateProjectBodySchema,
} from '../shared/projects.ts';
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

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * A typed client for the REST contract (`/api/v1`). It keeps the session's tokens and, when an
 * access token has expired, refreshes once (shared by concurrent calls, since refresh tokens
 * rotate and a second use of the old one would revoke the session) and repeats the call.
 */
export class ReelroomClient {
  readonly baseUrl: string;
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
  }

  /** The current tokens; the access token is what the Yjs and Socket.IO connections take. */
  get tokens(): Tokens | undefined {
    return this.#tokens;
  }

  readonly auth = {
    signup: async (body: z.input<typeof signupBodySchema>): Promise<Session> =>
      this.#startSession(await this.#call<Session>('POST', '/auth/signup', body, false)),
    login: async (body: z.input<typeof loginBodySchema>): Promise<Session> =>
      this.#startSession(await this.#call<Session>('POST', '/auth/login', body, false)),
    /** Swaps the refresh token for a new pair; normally done for you on a 401. */
    refresh: (): Promise<void> => this.#refresh(),
    logout: async (): Promise<void> => {
      const refreshToken = this.#tokens?.refreshToken;
      this.#setTokens(undefined);
      if (refreshToken) await this.#call('POST', '/auth/logout', { refreshToken }, false);
    },
    me: async (): Promise<User> => (await this.#call<{ user: User }>('GET', '/me')).user,
  };

  readonly workspaces = {
    create: async (name: string): Promise<Workspace> =>
      (await this.#call<{ workspace: Workspace }>('POST', '/workspaces', { name })).workspace,
    list: async (): Promise<Workspace[]> =>
      (await this.#call<{ workspaces: Workspace[] }>('GET', '/workspaces')).workspaces,
    get: async (id: string): Promise<Workspace> =>
      (await this.#call<{ workspace: Workspace }>('GET', `/workspaces/${enc(id)}`)).workspace,
    members: async (id: string): Promise<Member[]> =>
      (await this.#call<{ members: Member[] }>('GET', `/workspaces/${enc(id)}/members`)).members,
    /**
     * Adds by email: `{member}` when the email has an account (a member at once), `{invitation}`
     * when it has none yet (it joins when it signs up).
     */
    addMember: async (
      id: string,
      email: string,
      role: Role,
    ): Promise<{ member: Member } | { invitation: Invitation }> =>
      this.#call<{ member: Member } | { invitation: Invitation }>(
        'POST',
        `/workspaces/${enc(id)}/members`,
        { email, role },
      ),
    /** Revokes an invitation that is still waiting (owners). */
    revokeInvitation: async (id: string, invitationId: string): Promise<void> => {
      await this.#call('DELETE', `/workspaces/${enc(id)}/invitations/${enc(invitationId)}`);
    },
    updateMember: async (id: string, userId: string, role: Role): Promise<Member> =>
      (
        await this.#call<{ member: Member }>(
          'PATCH',
          `/workspaces/${enc(id)}/members/${enc(userId)}`,
          { role },
        )
      ).member,
    removeMember: async (id: string, userId: string): Promise<void> => {
      await this.#call('DELETE', `/workspaces/${enc(id)}/members/${enc(userId)}`);
    },
    projects: (id: string, page: Page = {}) =>
      this.#call<{ projects: Project[]; nextCursor: string | null }>(
        'GET',
        `/workspaces/${enc(id)}/projects${query(page)}`,
      ),
  };

  readonly projects = {
    create: async (body: z.input<typeof createProjectBodySchema>): Promise<Project> =>
      (await this.#call<{ project: Project }>('POST', '/projects', body)).project,
    get: async (id: string): Promise<Project> =>
      (await this.#call<{ project: Project }>('GET', `/projects/${enc(id)}`)).project,
    update: async (id: string, body: z.input<typeof updateProjectBodySchema>): Promise<Project> =>
      (await this.#call<{ project: Project }>('PATCH', `/projects/${enc(id)}`, body)).project,
    delete: async (id: string): Promise<void> => {
      await this.#call('DELETE', `/projects/${enc(id)}`);
    },
  };

  /**
   * Any route of the contract, for what the typed helpers do not cover yet. `path` is relative
   * to `/api/v1`. Resolves to the parsed JSON body (undefined for 204); rejects with
   * ReelroomApiError.
   */
  request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return this.#call<T>(method, path, body);
  }

  async #call<T>(method: Method, path: string, body?: unknown, authenticated = true): Promise<T> {
    let response = await this.#send(method, path, body, authenticated);
    if (response.status === 401 && authenticated && this.#tokens?.refreshToken) {
      await response.body?.cancel();
      await this.#refresh();
      response = await this.#send(method, path, body, authenticated);
    }
    if (!response.ok) throw await ReelroomApiError.from(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  #send(method: Method, path: string, body: unknown, authenticated: boolean): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authenticated && this.#tokens) headers.authorization = `Bearer ${this.#tokens.accessToken}`;
    return this.#fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const refreshToken = this.#tokens?.refreshToken;
        if (!refreshToken) throw new ReelroomApiError(401, 'unauthorized', 'Not signed in');
        const pair = await this.#call<Tokens>('POST', '/auth/refresh', { refreshToken }, false);
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
}

const enc = encodeURIComponent;

function query(page: Page): string {
  const params = new URLSearchParams();
  if (page.limit !== undefined) params.set('limit', String(page.limit));
  if (page.cursor !== undefined) params.set('cursor', page.cursor);
  const text = params.toString();
  return text ? `?${text}` : '';
}
