import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { CoachErrorCodes } from '../../shared/coach.ts';
import {
  COACH_ACTION_PREFIX,
  type CoachAction,
  parseCoachAction,
} from '../../shared/coach-actions.ts';
import type { ChatMessageWire, ServerToClientEvents } from '../../shared/socket-events.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { type RoomSocket, sendChat } from '../rooms.ts';
import { byId, el, messageOf } from './dom.ts';

export interface CoachPanelOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  projectId: string;
  /** Editors and owners may carry out the coach's suggestions; viewers see them disabled. */
  canAct: boolean;
  /** A suggestion started a pipeline run: the pipeline panel shows it. */
  onRunStarted: () => void;
  /** Removes the panel's DOM listeners when the project closes. */
  signal: AbortSignal;
}

export interface CoachPanel {
  /** The room events the chat shows; the caller subscribes them to the socket. */
  handlers: Pick<
    ServerToClientEvents,
    'chat:message' | 'chat:token' | 'chat:done' | 'chat:error' | 'decision:detected'
  >;
  /**
   * Reads the last messages and shows those not shown yet, and finishes replies whose end was
   * missed: on opening, and after the room was joined again (events sent meanwhile are lost).
   */
  loadHistory(): Promise<void>;
}

/** A chat message as the page shows it: stored messages carry the id of their reply. */
type ShownMessage = Pick<ChatMessageWire, 'id' | 'role' | 'content'> & {
  authorName?: unknown;
  replyId?: unknown;
  status?: unknown;
};

const ACTION_VIEWER_NOTE = 'Viewers follow along; editors and owners can do this.';

/**
 * Markdown from the coach as safe HTML: marked renders, DOMPurify strips anything active. In
 * a coach reply, links to a coach action (`#coach-action:...`) become buttons.
 */
function renderMarkdown(
  target: HTMLElement,
  markdown: string,
  options: { actions: boolean; canAct: boolean },
): void {
  const html = marked.parse(markdown, { async: false, gfm: true, breaks: true });
  target.innerHTML = DOMPurify.sanitize(html.trim());
  target.dataset.markdown = markdown;
  for (const link of target.querySelectorAll<HTMLAnchorElement>(
    `a[href^="${COACH_ACTION_PREFIX}"]`,
  )) {
    const href = link.getAttribute('href') ?? '';
    if (!options.actions || !parseCoachAction(href)) {
      // Not a suggestion this page knows (or not the coach's): plain text, no address.
      link.replaceWith(document.createTextNode(link.textContent ?? ''));
      continue;
    }
    const button = el('button', {
      className: 'secondary coach-action',
      text: link.textContent ?? '',
      data: { action: href },
    });
    button.type = 'button';
    button.disabled = !options.canAct;
    if (!options.canAct) button.title = ACTION_VIEWER_NOTE;
    link.replaceWith(button);
  }
}

/**
 * The coach chat of a project: the messages, the coach's replies as they stream (Markdown),
 * decisions highlighted on the message they were read from, and the coach's suggestions as
 * buttons that do what they say through the REST routes.
 */
export function openCoachPanel(options: CoachPanelOptions): CoachPanel {
  const { client, socket, projectId, canAct, signal } = options;
  const on = { signal };
  const chatLog = byId('chat-log');
  const errorLine = byId('chat-error');
  chatLog.replaceChildren();
  errorLine.textContent = '';

  const bubble = (id: string): HTMLElement | null =>
    chatLog.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  const render = (item: HTMLElement, markdown: string) => {
    renderMarkdown(item.querySelector<HTMLElement>('.text')!, markdown, {
      actions: item.classList.contains('assistant'),
      canAct,
    });
  };
  const showMessage = (message: ShownMessage, status: string) => {
    if (bubble(message.id)) return;
    const author =
      message.role === 'assistant'
        ? 'Coach'
        : typeof message.authorName === 'string'
          ? message.authorName
          : 'Member';
    const item = el(
      'li',
      { className: message.role, data: { id: message.id, status } },
      el('span', { className: 'author', text: author }),
      el('div', { className: 'text' }),
    );
    chatLog.append(item);
    render(item, message.content);
    chatLog.scrollTop = chatLog.scrollHeight;
  };
  const reply = (messageId: string): HTMLElement => {
    if (!bubble(messageId)) {
      showMessage({ id: messageId, role: 'assistant', content: '' }, 'streaming');
    }
    return bubble(messageId)!;
  };

  // ---- suggestions: one listener for every button, since streaming re-renders the bubble
  const perform = async (action: CoachAction): Promise<string> => {
    const base = `/projects/${encodeURIComponent(projectId)}`;
    switch (action.kind) {
      case 'start-template':
        await client.request('POST', `${base}/plan`, { templateId: action.templateId });
        return 'The plan is in the Plan panel.';
      case 'make-video':
        await client.request('POST', `${base}/pipeline-runs`, {
          idempotencyKey: crypto.randomUUID(),
        });
        options.onRunStarted();
        return 'The video is being made: follow it in the Pipeline panel.';
    }
  };
  chatLog.addEventListener(
    'click',
    async (event) => {
      const button = (event.target as Element).closest<HTMLButtonElement>('button.coach-action');
      const action = button && parseCoachAction(button.dataset.action ?? '');
      if (!button || !action || button.disabled) return;
      button.disabled = true;
      errorLine.textContent = '';
      try {
        const done = await perform(action);
        button.dataset.done = 'true';
        button.after(el('span', { className: 'muted action-done', text: ` ${done}` }));
      } catch (caught) {
        errorLine.textContent = `That did not work: ${messageOf(caught)}`;
        button.disabled = false;
      }
    },
    on,
  );

  const handlers: CoachPanel['handlers'] = {
    'chat:message': ({ message }) => {
      if (message.projectId !== projectId) return;
      showMessage(message, 'done');
      // The reply streams under `replyId`; its bubble waits right below the question.
      if (typeof message.replyId === 'string') reply(message.replyId);
    },
    'chat:token': ({ messageId, delta }) => {
      const item = reply(messageId);
      render(item, (item.querySelector<HTMLElement>('.text')!.dataset.markdown ?? '') + delta);
      chatLog.scrollTop = chatLog.scrollHeight;
    },
    'chat:done': ({ messageId }) => {
      reply(messageId).dataset.status = 'done';
    },
    'chat:error': ({ messageId, error }) => {
      const item = reply(messageId);
      if (error.code === CoachErrorCodes.ReplyRestarted) {
        // The reply starts over under the same id: drop what streamed so far.
        render(item, '');
        item.dataset.status = 'streaming';
        return;
      }
      item.dataset.status = 'error';
      item.append(el('span', { className: 'error', text: ` (${error.message})` }));
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
  };

  byId('chat-form').addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      const input = byId<HTMLInputElement>('chat-input');
      const content = input.value.trim();
      if (!content) return;
      errorLine.textContent = '';
      try {
        // While the page reconnects, this waits for the room (up to the SDK's ack timeout).
        await sendChat(socket, projectId, content);
        input.value = '';
      } catch (error) {
        errorLine.textContent = socket.connected
          ? messageOf(error)
          : 'Not sent: the connection is down. It comes back by itself; send again then.';
      }
    },
    on,
  );

  return {
    handlers,
    async loadHistory() {
      try {
        const { messages } = await client.request<{ messages: ShownMessage[] }>(
          'GET',
          `/projects/${encodeURIComponent(projectId)}/chat/messages?limit=30`,
        );
        for (const message of messages.reverse()) {
          const status =
            message.status === 'incomplete'
              ? 'error'
              : message.status === 'pending'
                ? 'streaming'
                : 'done';
          const shown = bubble(message.id);
          if (!shown) {
            showMessage(message, status);
          } else if (shown.dataset.status === 'streaming' && status !== 'streaming') {
            // Its end streamed while the page was away: show what was stored.
            render(shown, message.content);
            shown.dataset.status = status;
          }
        }
      } catch (error) {
        errorLine.textContent = messageOf(error);
      }
    },
  };
}
