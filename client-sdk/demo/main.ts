// The web app at `/`: sign in, pick or create a project, then co-edit its script, see who
// is here, talk with the coach and watch renders, all through the client SDK. Plain DOM, no
// framework; the server bundles this file with esbuild on the first request.
import type { Project } from '../../shared/projects.ts';
import type { Workspace } from '../../shared/workspaces.ts';
import { ReelroomClient, type Tokens } from '../rest-client.ts';
import { connectRooms, type RoomSocket } from '../rooms.ts';
import { byId, el, messageOf } from './dom.ts';
import { openProjectRoom } from './project-room.ts';

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
    await startSession(session.user.name);
  } catch (caught) {
    error.textContent = messageOf(caught);
  }
}

async function startSession(name: string): Promise<void> {
  userName = name;
  byId('whoami').textContent = `Signed in as ${name}`;
  byId('logout').hidden = false;
  socket = connectRooms({
    baseUrl: client.baseUrl,
    token: () => client.tokens?.accessToken ?? '',
    onRejoinFailed: (_projectId, error) => {
      byId('chat-error').textContent = messageOf(error);
    },
  });
  const rooms = socket;
  rooms.on('connect_error', () => {
    // A refused handshake (expired access token) is not retried by socket.io-client itself.
    if (rooms.active) return;
    setTimeout(() => {
      client.auth.refresh().then(
        () => rooms.connect(),
        () => signOut(),
      );
    }, 1000);
  });
  await showProjects();
}

async function signOut(): Promise<void> {
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
  const error = byId('projects-error');
  error.textContent = '';
  try {
    workspaces = await client.workspaces.list();
    const pages = await Promise.all(
      workspaces.map((workspace) => client.workspaces.projects(workspace.id, { limit: 100 })),
    );
    const list = byId('projects');
    list.replaceChildren(
      ...pages.flatMap((page, i) =>
        page.projects.map((project) => projectItem(project, workspaces[i]!)),
      ),
    );
    byId('projects-empty').hidden = list.children.length > 0;
    byId('new-project-workspace').replaceChildren(
      ...workspaces
        .filter((workspace) => workspace.role !== 'viewer')
        .map((workspace) => {
          const option = el('option', { text: workspace.name });
          option.value = workspace.id;
          return option;
        }),
    );
  } catch (caught) {
    error.textContent = messageOf(caught);
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
  try {
    closeRoom = await openProjectRoom({
      client,
      socket,
      project,
      userName,
      role: workspaces.find((w) => w.id === project.workspaceId)?.role ?? 'viewer',
      onDeleted: () => void leaveProject(),
    });
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

// A reload of the tab keeps the session (sessionStorage); `me` refreshes an expired token.
if (client.tokens) {
  client.auth.me().then(
    (user) => startSession(user.name),
    () => signOut(),
  );
} else {
  show('auth');
}
