import type { PipelineRun } from '../../shared/pipeline.ts';
import type { Project } from '../../shared/projects.ts';
import { parseScript } from '../../shared/script-format.ts';
import type { RenderProgressEvent, ServerToClientEvents } from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import { openProjectDocument } from '../project-document.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { joinProject, leaveProject, RoomError, type RoomSocket } from '../rooms.ts';
import { openCoachPanel } from './coach-panel.ts';
import { watchConnection } from './connection-status.ts';
import { byId, el, messageOf } from './dom.ts';
import { openPipelinePanel } from './pipeline-panel.ts';
import { openPlanPanel } from './plan-panel.ts';
import { openScriptEditor } from './script-editor.ts';

export interface ProjectRoomOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  project: Project;
  /** The user's role in the project's workspace: viewers get a read-only script. */
  role: Role;
  /** The signed-in member's name, shown beside their cursor in other members' editors. */
  userName: string;
  /** The project was deleted while open. */
  onDeleted: () => void;
}

/** Cursor colours, one per member (picked from the user id so it stays the same). */
const COLORS = ['#1971c2', '#c2255c', '#2b8a3e', '#e8590c', '#6741d9', '#0c8599', '#a61e4d'];

function colorOf(seed: string): string {
  let hash = 0;
  for (const char of seed) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return COLORS[hash % COLORS.length]!;
}

/**
 * Opens a project on the page: the live script (Yjs), who is here, the coach chat and render
 * progress (the Socket.IO room) and the pipeline panel. Returns what closes it all.
 */
export async function openProjectRoom(options: ProjectRoomOptions): Promise<() => Promise<void>> {
  const { client, socket, project, role } = options;
  const projectId = project.id;
  const listeners = new AbortController();

  // The open project's id, for scripts and tests driving the page.
  byId('project-view').dataset.projectId = projectId;
  byId('project-title').textContent = project.title;
  byId('role').textContent = role;
  for (const id of ['presence', 'chat-log', 'renders']) byId(id).replaceChildren();
  byId('renders-empty').hidden = false;
  byId('chat-error').textContent = '';

  // ---- script: the Y.Text `script` of project/<id>/script, and the plan document
  const editorHost = byId('script');
  editorHost.replaceChildren();
  const readOnly = role === 'viewer';
  byId('script-readonly').hidden = !readOnly;
  // Asked on every reconnection; a 4401 close (expired token) refreshes it and reconnects.
  const documentOptions = {
    baseUrl: client.baseUrl,
    token: () => client.tokens?.accessToken ?? '',
    refreshToken: () => client.auth.refresh(),
    projectId,
  };
  const script = openProjectDocument({ ...documentOptions, kind: 'script' });
  const planDoc = openProjectDocument({ ...documentOptions, kind: 'plan' });
  const { doc, provider } = script;
  provider.awareness.setLocalStateField('user', {
    name: options.userName,
    color: colorOf(options.userName),
    colorLight: `${colorOf(options.userName)}33`,
  });

  // Voice-over length per scene, from the latest run that made voice-overs.
  const voiceSeconds = new Map<number, number>();
  let scriptText = '';
  const showOutline = () => {
    const scenes = parseScript(scriptText).scenes;
    byId('outline-empty').hidden = scenes.length > 0;
    byId('outline').replaceChildren(
      ...scenes.map((scene) => {
        const seconds = voiceSeconds.get(scene.index);
        const name =
          scene.title ?? scene.narrationLines[0]?.slice(0, 40) ?? `Scene ${scene.index + 1}`;
        return el(
          'li',
          { data: { sceneIndex: String(scene.index) } },
          el('span', { className: 'scene-title', text: name }),
          el('span', {
            className: 'muted',
            text: seconds === undefined ? '' : ` · ${seconds.toFixed(1)} s voice-over`,
          }),
        );
      }),
    );
  };
  const loadVoiceOvers = async () => {
    const { runs } = await client.request<{ runs: PipelineRun[] }>(
      'GET',
      `/projects/${encodeURIComponent(projectId)}/pipeline-runs?limit=10`,
    );
    for (const run of runs) {
      const voiceovers = run.steps
        .flatMap((step) => step.artifacts)
        .filter((artifact) => artifact.kind === 'voiceover');
      if (voiceovers.length === 0) continue;
      voiceSeconds.clear();
      for (const artifact of voiceovers) {
        const { sceneIndex, durationSec } = artifact as {
          sceneIndex?: unknown;
          durationSec?: unknown;
        };
        if (typeof sceneIndex === 'number' && typeof durationSec === 'number') {
          voiceSeconds.set(sceneIndex, durationSec);
        }
      }
      break;
    }
    showOutline();
  };

  let closeEditor: (() => void) | undefined;
  const onSync = (synced: boolean) => {
    // Bound only once the server's state is in, so nothing typed early is lost or doubled.
    if (!synced || closeEditor) return;
    closeEditor = openScriptEditor({
      parent: editorHost,
      text: doc.getText('script'),
      awareness: provider.awareness,
      readOnly,
      onChange: (text) => {
        scriptText = text;
        showOutline();
      },
    });
  };
  provider.on('sync', onSync);
  const closePlan = openPlanPanel({
    client,
    projectId,
    doc: planDoc.doc,
    canEdit: !readOnly,
    signal: listeners.signal,
  });

  // ---- the pipeline: runs, their steps live, and what each step made
  const pipeline = openPipelinePanel({
    client,
    projectId,
    workspaceId: project.workspaceId,
    role,
    signal: listeners.signal,
  });

  // ---- the coach chat: streamed Markdown replies, decisions, clickable suggestions
  const coach = openCoachPanel({
    client,
    socket,
    projectId,
    canAct: !readOnly,
    onRunStarted: () => void pipeline.refresh(),
    signal: listeners.signal,
  });

  // ---- room events
  const stopListening: Array<() => void> = [];
  const listen = <E extends keyof ServerToClientEvents>(
    event: E,
    handler: ServerToClientEvents[E],
  ) => {
    // The typed `on` cannot pair a generic event name with its handler.
    socket.on(event, handler as never);
    stopListening.push(() => socket.off(event, handler as never));
  };
  const handlers: Partial<ServerToClientEvents> = {
    ...coach.handlers,
    presence: (event) => {
      if (event.projectId !== projectId) return;
      byId('presence').replaceChildren(
        ...event.users.map((user) => el('li', { text: user.name, data: { userId: user.userId } })),
      );
    },
    'render:progress': showRender,
    'pipeline:progress': (event) => {
      pipeline.onProgress(event);
      if (event.step === 'voiceover' && event.status === 'completed') {
        loadVoiceOvers().catch(() => undefined);
      }
    },
    'project:deleted': (event) => {
      if (event.projectId === projectId) options.onDeleted();
    },
  };
  for (const [event, handler] of Object.entries(handlers)) {
    listen(event as keyof ServerToClientEvents, handler);
  }
  // After a reconnect the SDK joins the room again by itself (connectRooms' onRejoinFailed).

  // The invite form belongs to the Team region (team-panel.ts, opened by main.ts).

  // ---- one status for every transport; what was missed is read back once all are up again
  const presence = byId('presence');
  const stopStatus = watchConnection({
    socket,
    projectId,
    providers: [provider, planDoc.provider],
    label: byId('doc-status'),
    dot: byId('doc-dot'),
    onChange: (state, previous) => {
      // Who is here is unknown while away: shown dimmed until the room says it again.
      presence.classList.toggle('stale', state !== 'connected');
      if (state !== 'connected' || previous === 'connecting') return;
      byId('chat-error').textContent = '';
      void coach.loadHistory();
      void pipeline.refresh();
    },
  });
  stopListening.push(stopStatus);

  // ---- history, then the room (duplicates of messages in both are dropped by id)
  await coach.loadHistory();
  try {
    await joinProject(socket, projectId);
  } catch (error) {
    // Refused (not a member any more): nothing to show. Anything else (the connection is
    // down): the SDK joins by itself once it is back, and the status says so meanwhile.
    if (error instanceof RoomError) throw error;
  }
  // After joining, so a run that ends meanwhile is either listed here or announced.
  await pipeline.refresh();
  loadVoiceOvers().catch((error: unknown) => {
    byId('outline-error').textContent = messageOf(error);
  });

  return async () => {
    listeners.abort();
    pipeline.close();
    for (const stop of stopListening) stop();
    closeEditor?.();
    closePlan();
    for (const each of [script, planDoc]) {
      each.provider.destroy();
      each.doc.destroy();
    }
    await leaveProject(socket, projectId).catch(() => undefined);
  };
}

function showRender(event: RenderProgressEvent): void {
  const list = byId('renders');
  byId('renders-empty').hidden = true;
  let item = list.querySelector<HTMLElement>(`li[data-render-id="${CSS.escape(event.renderId)}"]`);
  if (!item) {
    item = el(
      'li',
      { data: { renderId: event.renderId } },
      el('div', {}, el('span', { className: 'status' }), el('span', { className: 'detail muted' })),
      el('progress', {}),
    );
    list.prepend(item);
  }
  item.dataset.status = event.status;
  const percent = Math.round(event.progress * 100);
  item.querySelector('.status')!.textContent = `${event.status} ${percent}%`;
  const details = [`render ${event.renderId.slice(0, 8)}`];
  if (event.fps !== undefined) details.push(`${event.fps.toFixed(0)} fps`);
  if (event.etaSeconds !== undefined) details.push(`ETA ${Math.ceil(event.etaSeconds)} s`);
  item.querySelector('.detail')!.textContent = ` · ${details.join(' · ')}`;
  const bar = item.querySelector('progress')!;
  bar.max = 1;
  bar.value = event.progress;
}
