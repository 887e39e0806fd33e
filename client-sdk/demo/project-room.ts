import type { Project } from '../../shared/projects.ts';
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
import { bindTextarea } from './text-binding.ts';

export interface ProjectRoomOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  project: Project;
  /** The user's role in the project's workspace: viewers get a read-only script. */
  role: Role;
  /** The project was deleted while open. */
  onDeleted: () => void;
}

/** A chat message as the page shows it: stored messages carry the id of their reply. */
type ShownMessage = Pick<ChatMessageWire, 'id' | 'role' | 'content'> & {
  authorName?: unknown;
  replyId?: unknown;
  status?: unknown;
};

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

  // ---- script: the Y.Text `script` of project/<id>/script
  const textarea = byId<HTMLTextAreaElement>('script');
  textarea.value = '';
  textarea.readOnly = true;
  const { doc, provider } = openProjectDocument({
    baseUrl: client.baseUrl,
    token: client.tokens?.accessToken ?? '',
    projectId,
    kind: 'script',
  });
  let unbind: (() => void) | undefined;
  let connection = 'connecting';
  const showStatus = () => {
    const connected = connection === 'connected';
    byId('doc-status').textContent = connected && !provider.synced ? 'syncing' : connection;
    byId('doc-dot').classList.toggle('on', connected && provider.synced);
  };
  const onSync = (synced: boolean) => {
    showStatus();
    // Bound only once the server's state is in, so nothing typed early is lost or doubled.
    if (!synced || unbind) return;
    unbind = bindTextarea(textarea, doc.getText('script'));
    textarea.readOnly = role === 'viewer';
    textarea.placeholder =
      role === 'viewer' ? 'Viewers read the script live.' : 'Write the video script together…';
  };
  const onStatus = ({ status }: { status: string }) => {
    connection = status;
    showStatus();
  };
  const onClose = (event: CloseEvent | null) => {
    // 4401: the access token expired; refresh it for the provider's next attempt.
    if (event?.code !== 4401) return;
    client.auth.refresh().then(
      () => {
        provider.params.token = client.tokens?.accessToken ?? '';
      },
      () => undefined,
    );
  };
  provider.on('sync', onSync);
  provider.on('status', onStatus);
  provider.on('connection-close', onClose);

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
        el('span', { className: 'text', text: message.content }),
      ),
    );
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
      const text = reply(messageId).querySelector('.text')!;
      text.textContent = (text.textContent ?? '') + delta;
      chatLog.scrollTop = chatLog.scrollHeight;
    },
    'chat:done': ({ messageId }) => {
      reply(messageId).dataset.status = 'done';
    },
    'chat:error': ({ messageId, error }) => {
      const item = reply(messageId);
      item.dataset.status = 'error';
      item.append(el('span', { className: 'error', text: ` (${error.message})` }));
    },
    'render:progress': showRender,
    'pipeline:progress': (event) => pipeline.onProgress(event),
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
  // Events missed while the socket was away are read back once the SDK has joined again.
  const onReconnect = () => setTimeout(() => void pipeline.refresh(), 500);
  socket.io.on('reconnect', onReconnect);
  stopListening.push(() => socket.io.off('reconnect', onReconnect));

  return async () => {
    listeners.abort();
    pipeline.close();
    for (const stop of stopListening) stop();
    unbind?.();
    provider.destroy();
    doc.destroy();
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
