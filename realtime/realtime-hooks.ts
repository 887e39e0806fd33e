import type { MemberRole } from './access-check.ts';

/** What the chat hook learns about a `chat:send`. */
export interface ChatSendContext {
  userId: string;
  name: string;
  projectId: string;
  workspaceId: string;
  /** The sender's role in the project's workspace at the time of sending. */
  role: MemberRole;
  content: string;
}

/**
 * Hooks other parts of the system register on the hub (Hocuspocus-style: optional async
 * methods; a hook refuses by throwing a DomainError from shared/errors.ts, e.g. a
 * RealtimeError: its code and message reach the client's ack, as over REST).
 */
export interface RealtimeHooks {
  /**
   * Handles a `chat:send` from a member who joined the project; resolves to the stored
   * message's id, which is acked to the sender. Without it, `chat:send` is answered with
   * `{error: {code: 'unavailable'}}`.
   */
  onChatSend?(context: ChatSendContext): Promise<{ messageId: string }>;
}
