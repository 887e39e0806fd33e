// The web app at `/`: sign in, pick or create a project, then co-edit its script, see who
// is here, talk with the coach and watch renders, all through the client SDK. Plain DOM, no
// framework; the server bundles this file with esbuild on the first request.
import type { User } from '../../shared/accounts.ts';
import type { Features } from '../../shared/features.ts';
import type { Project } from '../../shared/projects.ts';
import type { Workspace } from '../../shared/workspaces.ts';
import { ReelroomClient, type Tokens } from '../rest-client.ts';
import { connectRooms, type RoomSocket } from '../rooms.ts';
import { byId, el, messageOf } from './dom.ts';
import { explainCaught } from './explain.ts';
import { openProjectRoom } from './project-room.ts';
import { takeProjectToReturnTo } from './return-to.ts';
import { openWorkspacePanels } from './workspace-panels.ts';

/** The session survives a reload of the tab, not the tab itself. */
const TOKENS_KEY = 'reelroom.demo.tokens';

const storedTokens = readTokens();
const client = new ReelroomClient({
  baseUrl: location.origin,
  ...(storedTokens ? { tokens: storedTokens } : {}),
  onTokens: (tokens) => {
    if (tokens) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else sessionStorage.removeItem(TOKENS_KEY);
  },
});

let socket: RoomSocket | undefined;
let workspaces: Workspace[] = [];
let closeRoom: (() => Promise<void>) | undefined;
let userName = '';
let userId = '';
/** What the server has configured; until it answers (or if it fails), nothing optional. */
let features: Features = { payments: false, googleSignIn: false, youtube: false };
const featuresLoaded = client.features().then(
  (answer) => {
    features = answer;
    byId('google-signin-box').hidden = !answer.googleSignIn;
  },
  () => undefined,
);
/**
 * How often the project list asks whether the member was added to (or removed from) a
 * workspace. No room event reaches a member who is not in any of that workspace's rooms yet,
 * so the list polls while it is shown, and reads again whenever the tab gets focus.
 */
const WORKSPACE_POLL_MS = 10_000;
let workspacePoll: ReturnType<typeof setInterval> | undefined;

function readTokens(): Tokens | undefined {
  const stored = sessionStorage.getItem(TOKENS_KEY);
  return stored ? (JSON.parse(stored) as Tokens) : undefined;
}

function show(view: 'auth' | 'projects' | 'project'): void {
  byId('auth-view').hidden = view !== 'auth';
  byId('projects-view').hidden = view !== 'projects';
  byId('project-view').hidden = view !== 'project';
}

// ---- signing in

async function authenticate(mode: 'login' | 'signup'): Promise<void> {
  const form = byId<HTMLFormElement>('auth-form');
  if (!form.reportValidity()) return;
  const email = byId<HTMLInputElement>('email').value.trim();
  const password = byId<HTMLInputElement>('password').value;
  const name = byId<HTMLInputElement>('name').value.trim();
  const error = byId('auth-error');
  error.textContent = '';
  if (mode === 'signup' && !name) {
    error.textContent = 'Give your name to sign up.';
    return;
  }
  try {
    const session =
      mode === 'signup'
        ? await client.auth.signup({ email, password, name })
        : await client.auth.login({ email, password });
    await startSession(session.user);
  } catch (caught) {
    error.textContent = explainCaught(caught);
  }
}

async function startSession(user: User): Promise<void> {
  userName = user.name;
  userId = user.id;
  byId('whoami').textContent = `Signed in as ${user.name}`;
  byId('logout').hidden = false;
  socket = connectRooms({
    baseUrl: client.baseUrl,
    token: () => client.tokens?.accessToken ?? '',
    onRejoinFailed: (_projectId, error) => {
      byId('chat-error').textContent = messageOf(error);
    },
    // A handshake refused after a long outage (expired access token): refresh, connect again.
    refreshToken: () => client.auth.refresh(),
    onSessionLost: () => void signOut(),
  });
  // Added to a workspace, or a role changed: the list shows it at once. The poll below only
  // covers a change made while the socket was down.
  socket.on('membership:changed', () => {
    if (!byId('projects-view').hidden) void loadProjects();
  });
  await showProjects();
  clearInterval(workspacePoll);
  workspacePoll = setInterval(() => void pollWorkspaces(), WORKSPACE_POLL_MS);
  // Back from Google's consent page or Stripe Checkout: open again what was open.
  const returnTo = takeProjectToReturnTo();
  const project = returnTo && shownProjects.get(returnTo);
  if (project) await openProject(project);
}

async function signOut(): Promise<void> {
  clearInterval(workspacePoll);
  workspacePoll = undefined;
  await closeRoom?.();
  closeRoom = undefined;
  socket?.disconnect();
  socket = undefined;
  await client.auth.logout().catch(() => undefined);
  byId('whoami').textContent = '';
  byId('logout').hidden = true;
  show('auth');
}

// ---- projects

async function showProjects(): Promise<void> {
  show('projects');
  await loadProjects();
}

/** The projects listed, by id (to open one again after a redirect). */
const shownProjects = new Map<string, Project>();

/** A workspace list's identity: which workspaces, with which role. */
function signatureOf(list: Workspace[]): string {
  return list.map((workspace) => `${workspace.id}:${workspace.role}`).join(',');
}

/** Reads the project list again when the member's workspaces or roles changed. */
async function pollWorkspaces(): Promise<void> {
  if (byId('projects-view').hidden || document.hidden) return;
  try {
    const now = await client.workspaces.list();
    if (signatureOf(now) !== signatureOf(workspaces)) await loadProjects();
  } catch {
    // The next poll, or the next focus, tries again; a lost session shows on the next action.
  }
}

/**
 * Tells the member about workspaces they were added to since the page last saw their list:
 * an invitation accepted at signup or login, or an owner adding them meanwhile. What was seen
 * is kept per user in localStorage, so this says it once.
 */
function announceNewWorkspaces(list: Workspace[]): void {
  const key = `reelroom.demo.seenWorkspaces.${userId}`;
  const stored = localStorage.getItem(key);
  const seen = new Set<string>(stored ? (JSON.parse(stored) as string[]) : []);
  const added = list.filter((workspace) => !seen.has(workspace.id));
  localStorage.setItem(key, JSON.stringify(list.map((workspace) => workspace.id)));
  // The first list a new account sees: only invitations accepted at signup are news.
  const news = stored ? added : added.filter((workspace) => workspace.role !== 'owner');
  const notice = byId('projects-notice');
  if (news.length === 0) return;
  notice.textContent = news
    .map((workspace) => `You were added to ${workspace.name} as ${workspace.role}.`)
    .join(' ');
  notice.hidden = false;
}

/** The workspace new projects go to: the member's own (the first they own), else any they edit. */
function defaultWorkspace(list: Workspace[]): Workspace | undefined {
  return (
    list.find((workspace) => workspace.role === 'owner') ??
    list.find((workspace) => workspace.role === 'editor')
  );
}

async function loadProjects(): Promise<void> {
  const error = byId('projects-error');
  error.textContent = '';
  try {
    workspaces = await client.workspaces.list();
    announceNewWorkspaces(workspaces);
    const pages = await Promise.all(
      workspaces.map((workspace) => client.workspaces.projects(workspace.id, { limit: 100 })),
    );
    const list = byId('projects');
    list.replaceChildren(
      ...pages.flatMap((page, i) =>
        page.projects.map((project) => projectItem(project, workspaces[i]!)),
      ),
    );
    shownProjects.clear();
    for (const page of pages)
      for (const project of page.projects) shownProjects.set(project.id, project);
    byId('projects-empty').hidden = list.children.length > 0;
    const select = byId<HTMLSelectElement>('new-project-workspace');
    // Keep what the member picked across refreshes; otherwise their own workspace.
    const chosen = select.value || defaultWorkspace(workspaces)?.id;
    select.replaceChildren(
      ...workspaces
        .filter((workspace) => workspace.role !== 'viewer')
        .map((workspace) => {
          const option = el('option', {
            text:
              workspace.role === 'owner' ? workspace.name : `${workspace.name} (${workspace.role})`,
          });
          option.value = workspace.id;
          option.selected = workspace.id === chosen;
          return option;
        }),
    );
    if (!select.value) select.value = defaultWorkspace(workspaces)?.id ?? '';
  } catch (caught) {
    error.textContent = explainCaught(caught);
  }
}

function projectItem(project: Project, workspace: Workspace): HTMLElement {
  const open = el('button', { text: 'Open', className: 'secondary' });
  open.type = 'button';
  open.addEventListener('click', () => void openProject(project));
  return el(
    'li',
    { data: { projectId: project.id } },
    el('span', { className: 'title', text: project.title }),
    el('span', { className: 'muted', text: workspace.name }),
    el('span', { className: 'badge', text: workspace.role }),
    open,
  );
}

async function createProject(): Promise<void> {
  const error = byId('projects-error');
  error.textContent = '';
  const title = byId<HTMLInputElement>('new-project-title');
  const topic = byId<HTMLInputElement>('new-project-topic');
  try {
    const project = await client.projects.create({
      workspaceId: byId<HTMLSelectElement>('new-project-workspace').value,
      title: title.value,
      topic: topic.value,
    });
    title.value = '';
    topic.value = '';
    await openProject(project);
  } catch (caught) {
    error.textContent = messageOf(caught);
  }
}

async function openProject(project: Project): Promise<void> {
  if (!socket) return;
  await closeRoom?.();
  closeRoom = undefined;
  show('project');
  const role = workspaces.find((w) => w.id === project.workspaceId)?.role ?? 'viewer';
  try {
    const closeProjectRoom = await openProjectRoom({
      client,
      socket,
      project,
      userName,
      role,
      onDeleted: () => void leaveProject(),
    });
    await featuresLoaded;
    const closePanels = openWorkspacePanels({ client, socket, project, role, userId, features });
    closeRoom = async () => {
      closePanels();
      await closeProjectRoom();
    };
  } catch (caught) {
    byId('chat-error').textContent = messageOf(caught);
  }
}

async function leaveProject(): Promise<void> {
  await closeRoom?.();
  closeRoom = undefined;
  await showProjects();
}

// ---- wiring

byId('auth-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void authenticate('login');
});
byId('signup').addEventListener('click', () => void authenticate('signup'));
byId('logout').addEventListener('click', () => void signOut());
byId('create-project-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void createProject();
});
byId('back').addEventListener('click', () => void leaveProject());
byId('google-signin').addEventListener('click', () => {
  location.assign(client.auth.googleStartUrl());
});
// Back on the tab after a while: the member may have been added to a workspace meanwhile.
window.addEventListener('focus', () => {
  if (client.tokens && !byId('projects-view').hidden) void loadProjects();
});

/**
 * Sign in with Google ends here: the server's callback redirects to `/#loginCode=...` (single
 * use, 60 s). The code leaves the address bar at once, so a reload or a shared link cannot
 * replay it.
 */
function takeLoginCode(): string | undefined {
  const match = /^#loginCode=([\w-]+)$/.exec(location.hash);
  if (!match) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return match[1];
}

// A reload of the tab keeps the session (sessionStorage); `me` refreshes an expired token.
const loginCode = takeLoginCode();
if (loginCode) {
  show('auth');
  client.auth.googleExchange(loginCode).then(
    (session) => startSession(session.user),
    (caught: unknown) => {
      byId('auth-error').textContent =
        `Signing in with Google did not finish (${explainCaught(caught)}). Try again.`;
    },
  );
} else if (client.tokens) {
  client.auth.me().then(
    (user) => startSession(user),
    () => signOut(),
  );
} else {
  show('auth');
}
