import { z } from 'zod';
import { chatContentSchema } from './coach.ts';
import type { JobStatus } from './job-status.ts';
import { text } from './text.ts';
import type { Role } from './workspaces.ts';

/** Room name for a project: every project event goes to `project:<projectId>`. */
export function projectRoom(projectId: string): `project:${string}` {
  return `project:${projectId}`;
}

export type Ack<T> = (response: T | { error: { code: string; message: string } }) => void;

export interface RenderProgressEvent {
  renderId: string;
  status: JobStatus;
  /** 0..1 */
  progress: number;
  fps?: number;
  etaSeconds?: number;
}

export interface PipelineProgressEvent {
  runId: string;
  step: string;
  status: JobStatus;
  /** 0..1 */
  progress: number;
  message?: string;
}

export interface ChatMessageWire {
  id: string;
  projectId: string;
  role: 'user' | 'assistant';
  content: string;
  userId: string | null;
  createdAt: string;
  [extra: string]: unknown;
}

export interface ChatUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface DecisionWire {
  id: string;
  category: 'pricing' | 'platform' | 'structure' | 'timeline' | 'content';
  [extra: string]: unknown;
}

export interface PresenceUser {
  userId: string;
  name: string;
}

/** Events the server sends to a project room (SPEC, Socket.IO). */
export interface ServerToClientEvents {
  'render:progress': (event: RenderProgressEvent) => void;
  'pipeline:progress': (event: PipelineProgressEvent) => void;
  'chat:message': (event: { message: ChatMessageWire }) => void;
  'chat:token': (event: { messageId: string; delta: string }) => void;
  'chat:done': (event: { messageId: string; usage: ChatUsage; costUsd: number }) => void;
  'chat:error': (event: { messageId: string; error: { code: string; message: string } }) => void;
  'decision:detected': (event: { decision: DecisionWire }) => void;
  presence: (event: { projectId: string; users: PresenceUser[] }) => void;
  /**
   * The project was deleted: the socket has left its room (it stays connected for its other
   * projects), and joining it again or `chat:send` to it is refused.
   */
  'project:deleted': (event: { projectId: string }) => void;
  /**
   * Sent to every socket of a user whose membership of a workspace changed (added, role
   * changed, removed: `role` null), whether or not it joined a project of it: the project list
   * of a page updates at once. Not a room event; the user's own sockets only.
   */
  'membership:changed': (event: { workspaceId: string; role: Role | null }) => void;
}

/** The payload of `project:join` and `project:leave`. */
export const projectPayloadSchema = z.object({ projectId: text().min(1).max(64) });

/** The payload of `chat:send`; `content` is checked exactly as `POST /projects/:id/chat`'s. */
export const chatSendPayloadSchema = z.object({
  projectId: text().min(1).max(64),
  content: chatContentSchema,
});

export type ProjectPayload = z.input<typeof projectPayloadSchema>;
export type ChatSendPayload = z.input<typeof chatSendPayloadSchema>;

/**
 * Events a client sends (SPEC, Socket.IO). Payload types come from the schemas above, which the
 * hub parses every payload with: one source for both.
 */
export interface ClientToServerEvents {
  'project:join': (payload: ProjectPayload, ack?: Ack<{ ok: true }>) => void;
  'project:leave': (payload: ProjectPayload, ack?: Ack<{ ok: true }>) => void;
  'chat:send': (payload: ChatSendPayload, ack?: Ack<{ messageId: string }>) => void;
}

export type InterServerEvents = Record<string, never>;

/** What the hub keeps per socket after the handshake. */
export interface SocketData {
  userId: string;
  name: string;
}

/** Any event a room can receive, by name, for emitters that publish without a socket. */
export type RoomEventName = keyof ServerToClientEvents;
export type RoomEventPayload<E extends RoomEventName> = Parameters<ServerToClientEvents[E]>[0];
