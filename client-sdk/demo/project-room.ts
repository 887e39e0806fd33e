import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { CoachErrorCodes } from '../../shared/coach.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import type { Project } from '../../shared/projects.ts';
import { parseScript } from '../../shared/script-format.ts';
import type {
  ChatMessageWire,
  RenderProgressEvent,
  ServerToClientEvents,
} from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import { openProjectDocument } from '../project-document.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { joinProject, leaveProject, type RoomSocket, sendChat } from '../rooms.ts';
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

/** A chat message as the page shows it: stored messages carry the id of their reply. */
type ShownMessage = Pick<ChatMessageWire, 'id' | 'role' | 'content'> & {
  authorName?: unknown;
  replyId?: unknown;
  status?: unknown;
};

/** Cursor colours, one per member (picked from the user id so it stays the same). */
const COLORS = ['#1971c2', '#c2255c', '#2b8a3e', '#e8590c', '#6741d9', '#0c8599', '#a61e4d'];

function colorOf(seed: string): string {
  let hash = 0;
  for (const char of seed) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return COLORS[hash % COLORS.length]!;
}

/** Markdown from the coach as safe HTML: marked renders, DOMPurify strips anything active. */
function renderMarkdown(target: Element, markdown: string): void {
  const html = marked.parse(markdown, { async: false, gfm: true, breaks: true });
  target.innerHTML = DOMPurify.sanitize(html.trim());
  (target as HTMLElement).dataset.markdown = markdown;
}

/**
 * Opens a project on the page: the live script (Yjs), who is here, the coach chat and render
 * progress (the Socket.IO room), the pipeline panel, and the invite form for owners. Returns what closes it all.
 */
export async function openProjectRoom(options: ProjectRoomOptions): Promise<() => Promise<void>> {
  const { client, socket, project, role } = options;
  const projectId = project.id;
  const listeners = new AbortController();
  const on = { signal: listeners.signal };

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
  const token = client.tokens?.accessToken ?? '';
  const script = openProjectDocument({ baseUrl: client.baseUrl, token, projectId, kind: 'script' });
  const planDoc = openProjectDocument({ baseUrl: client.baseUrl, token, projectId, kind: 'plan' });
  const { doc, provider } = script;
  provider.awareness.setLocalStateField('user', {
    name: options.userName,
    color: colorOf(options.userName),
    colorLight: `${colorOf(options.userName)}33`,
  });

  // One status for the three transports: both Yjs documents and the Socket.IO room.
  let everConnected = false;
  const showStatus = () => {
    const connected =
      provider.wsconnected && provider.synced && planDoc.provider.wsconnected && socket.connected;
    if (connected) everConnected = true;
    const text = connected ? 'connected' : everConnected ? 'reconnecting…' : 'connecting…';
    byId('doc-status').textContent = text;
    byId('doc-dot').classList.toggle('on', connected);
  };
  const statusTimer = setInterval(showStatus, 500);

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
    showStatus();
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
  const onStatus = () => showStatus();
  const onClose = (event: CloseEvent | null) => {
    // 4401: the access token expired; refresh it for the providers' next attempt.
    if (event?.code !== 4401) return;
    client.auth.refresh().then(
      () => {
        provider.params.token = client.tokens?.accessToken ?? '';
        planDoc.provider.params.token = client.tokens?.accessToken ?? '';
      },
      () => undefined,
    );
  };
  for (const { provider: each } of [script, planDoc]) {
    each.on('sync', each === provider ? onSync : onStatus);
    each.on('status', onStatus);
    each.on('connection-close', onClose);
  }
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

  // ---- room events
  const chatLog = byId('chat-log');
  const bubble = (id: string): HTMLElement | null =>
    chatLog.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  const showMessage = (message: ShownMessage, status: string) => {
    if (bubble(message.id)) return;
    const author =
      message.role === 'assistant'
        ? 'Coach'
        : typeof message.authorName === 'string'
          ? message.authorName
          : 'Member';
    chatLog.append(
      el(
        'li',
        { className: message.role, data: { id: message.id, status } },
        el('span', { className: 'author', text: author }),
        el('div', { className: 'text' }),
      ),
    );
    renderMarkdown(bubble(message.id)!.querySelector('.text')!, message.content);
    chatLog.scrollTop = chatLog.scrollHeight;
  };
  const reply = (messageId: string): HTMLElement => {
    if (!bubble(messageId)) {
      showMessage({ id: messageId, role: 'assistant', content: '' }, 'streaming');
    }
    return bubble(messageId)!;
  };

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
    presence: (event) => {
      if (event.projectId !== projectId) return;
      byId('presence').replaceChildren(
        ...event.users.map((user) => el('li', { text: user.name, data: { userId: user.userId } })),
      );
    },
    'chat:message': ({ message }) => {
      if (message.projectId !== projectId) return;
      showMessage(message, 'done');
      // The reply streams under `replyId`; its bubble waits right below the question.
      if (typeof message.replyId === 'string') reply(message.replyId);
    },
    'chat:token': ({ messageId, delta }) => {
      const text = reply(messageId).querySelector<HTMLElement>('.text')!;
      renderMarkdown(text, (text.dataset.markdown ?? '') + delta);
      chatLog.scrollTop = chatLog.scrollHeight;
    },
    'chat:done': ({ messageId }) => {
      reply(messageId).dataset.status = 'done';
    },
    'chat:error': ({ messageId, error }) => {
      const item = reply(messageId);
      if (error.code === CoachErrorCodes.ReplyRestarted) {
        // The reply starts over under the same id: drop what streamed so far.
        renderMarkdown(item.querySelector('.text')!, '');
        item.dataset.status = 'streaming';
        return;
      }
      item.dataset.status = 'error';
      item.append(el('span', { className: 'error', text: ` (${error.message})` }));
    },
    'render:progress': showRender,
    'pipeline:progress': (event) => {
      pipeline.onProgress(event);
      if (event.step === 'voiceover' && event.status === 'completed') {
        loadVoiceOvers().catch(() => undefined);
      }
    },
    'decision:detected': ({ decision }) => {
      // Highlight the message the decision was read from; the Plan region lists it (Y doc).
      const source = typeof decision.sourceMessageId === 'string' ? decision.sourceMessageId : '';
      const item = source ? bubble(source) : null;
      if (!item || item.querySelector(`[data-decision-id="${CSS.escape(decision.id)}"]`)) return;
      item.classList.add('decided');
      item.append(
        el('span', {
          className: 'badge decision',
          text: `Decision · ${decision.category}`,
          data: { decisionId: decision.id },
        }),
      );
    },
    'project:deleted': (event) => {
      if (event.projectId === projectId) options.onDeleted();
    },
  };
  for (const [event, handler] of Object.entries(handlers)) {
    listen(event as keyof ServerToClientEvents, handler);
  }
  // After a reconnect the SDK joins the room again by itself (connectRooms' onRejoinFailed).

  // ---- forms
  byId('chat-form').addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      const input = byId<HTMLInputElement>('chat-input');
      const content = input.value.trim();
      if (!content) return;
      byId('chat-error').textContent = '';
      try {
        await sendChat(socket, projectId, content);
        input.value = '';
      } catch (error) {
        byId('chat-error').textContent = messageOf(error);
      }
    },
    on,
  );

  const invite = byId<HTMLFormElement>('invite-form');
  invite.hidden = role !== 'owner';
  byId('invite-status').textContent = '';
  invite.addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      const email = byId<HTMLInputElement>('invite-email');
      const inviteRole = byId<HTMLSelectElement>('invite-role').value as Role;
      const status = byId('invite-status');
      try {
        const added = await client.workspaces.addMember(
          project.workspaceId,
          email.value,
          inviteRole,
        );
        status.textContent =
          'member' in added
            ? `${added.member.name} joined as ${added.member.role}.`
            : `Invited ${added.invitation.email} as ${added.invitation.role}; they join when they sign up.`;
        email.value = '';
      } catch (error) {
        status.textContent = messageOf(error);
      }
    },
    on,
  );

  // ---- history, then the room (duplicates of messages in both are dropped by id)
  try {
    const { messages } = await client.request<{ messages: ShownMessage[] }>(
      'GET',
      `/projects/${encodeURIComponent(projectId)}/chat/messages?limit=30`,
    );
    for (const message of messages.reverse()) {
      showMessage(message, message.status === 'incomplete' ? 'error' : 'done');
    }
  } catch (error) {
    byId('chat-error').textContent = messageOf(error);
  }
  await joinProject(socket, projectId);
  // After joining, so a run that ends meanwhile is either listed here or announced.
  await pipeline.refresh();
  loadVoiceOvers().catch((error: unknown) => {
    byId('outline-error').textContent = messageOf(error);
  });
  // Events missed while the socket was away are read back once the SDK has joined again.
  const onReconnect = () => setTimeout(() => void pipeline.refresh(), 500);
  socket.io.on('reconnect', onReconnect);
  stopListening.push(() => socket.io.off('reconnect', onReconnect));

  return async () => {
    listeners.abort();
    pipeline.close();
    for (const stop of stopListening) stop();
    clearInterval(statusTimer);
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
