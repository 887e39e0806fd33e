// The REST calls the harness makes on Reelroom: a team (owner + editors) in one workspace and a
// project per document. Several users because Reelroom caps Yjs connections per user (20 by
// default, `maxConnectionsPerUser`): as in a real room, each document's clients are different
// people.
import { randomUUID } from 'node:crypto';

interface Session {
  email: string;
  token: string;
  refreshToken: string;
  /** Date.now() when `token` was issued: access tokens last 15 minutes. */
  issuedAt: number;
}

export interface ReelroomTeam {
  workspaceId: string;
  /** users[0] owns the workspace, the others are editors. */
  users: Session[];
}

/** Refresh a token this old (ms) before using it, well inside its 15 minutes. */
const REFRESH_AFTER_MS = 10 * 60_000;

async function call<T>(
  base: string,
  token: string | null,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${base}/api/v1${pathname}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) {
    throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()}`);
  }
  return response.json() as Promise<T>;
}

type Tokens = { accessToken: string; refreshToken: string };

async function signUp(base: string): Promise<Session> {
  const email = `${randomUUID()}@bench.test`;
  const tokens = await call<Tokens>(base, null, 'POST', '/auth/signup', {
    email,
    password: 'correct horse battery',
    name: 'Bench',
  });
  return {
    email,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    issuedAt: Date.now(),
  };
}

/**
 * Signs up `size` users (signup allows 20 per IP and hour), the first creates a workspace and
 * adds the others as editors. Tokens come from signup and refresh, not login: login allows 30
 * attempts per IP in 15 minutes, successful ones included.
 */
export async function createTeam(base: string, size: number): Promise<ReelroomTeam> {
  const users: Session[] = [];
  for (let i = 0; i < size; i += 1) users.push(await signUp(base));
  const owner = users[0]!;
  const { workspace } = await call<{ workspace: { id: string } }>(
    base,
    owner.token,
    'POST',
    '/workspaces',
    { name: 'Bench' },
  );
  for (const user of users.slice(1)) {
    await call(base, owner.token, 'POST', `/workspaces/${workspace.id}/members`, {
      email: user.email,
      role: 'editor',
    });
  }
  return { workspaceId: workspace.id, users };
}

/** Refreshes the tokens that are getting old (refresh tokens rotate: the new pair is kept). */
export async function keepFresh(base: string, team: ReelroomTeam): Promise<void> {
  for (const user of team.users) {
    if (Date.now() - user.issuedAt < REFRESH_AFTER_MS) continue;
    const tokens = await call<Tokens>(base, null, 'POST', '/auth/refresh', {
      refreshToken: user.refreshToken,
    });
    Object.assign(user, {
      token: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      issuedAt: Date.now(),
    });
  }
}

/** Creates `count` projects; their script documents are `project/<id>/script`. */
export async function createScriptDocuments(
  base: string,
  team: ReelroomTeam,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const { project } = await call<{ project: { id: string } }>(
      base,
      team.users[0]!.token,
      'POST',
      '/projects',
      { workspaceId: team.workspaceId, title: `Typing bench ${i}`, topic: 'bench' },
    );
    ids.push(`project/${project.id}/script`);
  }
  return ids;
}

/**
 * The user of client `member` of document `doc`: two users per member slot, alternating by
 * document, so each user holds half as many connections as there are documents.
 */
export function userFor(team: ReelroomTeam, doc: number, member: number): Session {
  return team.users[(member * 2 + (doc % 2)) % team.users.length]!;
}

/** Users needed for `clientsPerDocument` clients on every document (see `userFor`). */
export const teamSize = (clientsPerDocument: number) => clientsPerDocument * 2;
