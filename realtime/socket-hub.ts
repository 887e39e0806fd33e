import { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import { Server } from 'socket.io';
import { z } from 'zod';
import type {
  Ack,
  ClientToServerEvents,
  InterServerEvents,
  PresenceUser,
  ServerToClientEvents,
  SocketData,
} from '../shared/socket-events.ts';
import { projectRoom } from '../shared/socket-events.ts';
import type { AccessCheck, MembershipChange, ProjectAccess } from './access-check.ts';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';
import { RealtimeError, toWireError } from './realtime-error.ts';
import type { RealtimeHooks } from './realtime-hooks.ts';
import type { RedisClient } from './redis-client.ts';
import { DEFAULT_REDIS_KEY_PREFIX, redisNames } from './redis-names.ts';

export type HubServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
export type HubSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;

export interface SocketHubOptions {
  /** Token and membership checks. Required. */
  access: AccessCheck;
  /**
   * A connected Redis client (owned by the caller). When given, rooms span every node through
   * `@socket.io/redis-streams-adapter`, which also keeps missed packets for connection state
   * recovery across nodes. Default: none, one node.
   */
  redis?: RedisClient;
  /** Prefix of the adapter's stream, channels and session keys. Default `reelroom`. */
  keyPrefix?: string;
  /** Maximum entries kept in the adapter's stream (approximate trim). Default 10 000. */
  streamMaxLen?: number;
  /** HTTP path of the Socket.IO endpoint. Default `/socket.io` (the wire contract's). */
  path?: string;
  /**
   * Browser origins allowed to connect cross-origin (`['*']` for any). Default `[]`: only
   * same-origin pages (the demo page and the SDK served by the API itself).
   */
  allowedOrigins?: string[];
  /** Largest message a client may send, in bytes. Default 100 000: chat messages are small. */
  maxHttpBufferSize?: number;
  /**
   * Client events allowed per socket: `points` events per `durationSeconds`. Default 20 per
   * 10 s, generous for people and tight for a script looping `chat:send` (each costs LLM money).
   */
  rateLimit?: { points: number; durationSeconds: number };
  /**
   * How long a disconnected client's session is kept for connection state recovery, in ms.
   * Default 120 000 (Socket.IO's): a client back within that time gets the events it missed.
   */
  recoveryWindowMs?: number;
  /**
   * How long presence changes of a room are gathered before one `presence` event goes out, in
   * ms. Default 50: not noticeable to people, and a burst of joins costs one update.
   */
  presenceDelayMs?: number;
  /** Hooks, e.g. the coach's `onChatSend`; more can be set later with {@link SocketHub.setHooks}. */
  hooks?: RealtimeHooks;
  /** Default: warnings and errors to stderr. */
  logger?: RealtimeLogger;
}

export interface SocketHubEvents {
  joined: [projectId: string, userId: string];
  left: [projectId: string, userId: string];
  /** A client event was refused by the rate limiter. */
  'rate-limited': [userId: string, event: string];
}

const DEFAULTS = {
  keyPrefix: DEFAULT_REDIS_KEY_PREFIX,
  streamMaxLen: 10_000,
  path: '/socket.io',
  allowedOrigins: [] as string[],
  maxHttpBufferSize: 100_000,
  rateLimit: { points: 20, durationSeconds: 10 },
  recoveryWindowMs: 120_000,
  presenceDelayMs: 50,
};

const projectPayload = z.object({ projectId: z.string().min(1).max(64) });
const chatPayload = z.object({
  projectId: z.string().min(1).max(64),
  content: z.string().trim().min(1).max(8000),
});

/** The payload's project id, or null once the ack was told the payload is invalid. */
function projectIdOf(payload: unknown, reply: Ack<{ ok: true }>): string | null {
  const parsed = projectPayload.safeParse(payload);
  if (parsed.success) return parsed.data.projectId;
  reply({ error: { code: 'invalid_payload', message: 'projectId is required' } });
  return null;
}

/** An ack callback as it arrives in a raw packet, before the event's typed handler. */
type AckFunction = (response: unknown) => void;

/**
 * The Socket.IO shell of the realtime layer: authenticates the handshake, joins members to
 * their project rooms, keeps presence, rate-limits client events and hands `chat:send` to a
 * hook. Room events themselves are published by whoever has something to say, through a
 * RoomEmitter.
 */
export class SocketHub extends EventEmitter<SocketHubEvents> {
  readonly io: HubServer;
  readonly #access: AccessCheck;
  readonly #logger: RealtimeLogger;
  readonly #limiter: RateLimiterMemory;
  readonly #allowedOrigins: string[];
  /** Projects each local socket joined, with the access it was granted (kept current). */
  readonly #joined = new Map<string, Map<string, ProjectAccess>>();
  readonly #presenceTimers = new Map<string, NodeJS.Timeout>();
  readonly #presenceDelayMs: number;
  #hooks: RealtimeHooks;
  #membershipEpoch = 0;
  #attached = false;
  #closing: Promise<void> | null = null;

  constructor(options: SocketHubOptions) {
    super();
    if (!options?.access) throw new Error('SocketHub: access is required');
    const o = {
      keyPrefix: options.keyPrefix ?? DEFAULTS.keyPrefix,
      streamMaxLen: options.streamMaxLen ?? DEFAULTS.streamMaxLen,
      path: options.path ?? DEFAULTS.path,
      allowedOrigins: options.allowedOrigins ?? DEFAULTS.allowedOrigins,
      maxHttpBufferSize: options.maxHttpBufferSize ?? DEFAULTS.maxHttpBufferSize,
      rateLimit: options.rateLimit ?? DEFAULTS.rateLimit,
      recoveryWindowMs: options.recoveryWindowMs ?? DEFAULTS.recoveryWindowMs,
      presenceDelayMs: options.presenceDelayMs ?? DEFAULTS.presenceDelayMs,
    };
    if (!o.path.startsWith('/')) throw new Error('SocketHub: path must start with /');
    if (!Number.isInteger(o.maxHttpBufferSize) || o.maxHttpBufferSize < 1024) {
      throw new Error('SocketHub: maxHttpBufferSize must be an integer >= 1024');
    }
    if (
      !Number.isInteger(o.rateLimit.points) ||
      o.rateLimit.points < 1 ||
      !(o.rateLimit.durationSeconds > 0)
    ) {
      throw new Error('SocketHub: rateLimit needs points >= 1 and durationSeconds > 0');
    }
    if (!Number.isFinite(o.recoveryWindowMs) || o.recoveryWindowMs < 0) {
      throw new Error('SocketHub: recoveryWindowMs must be >= 0');
    }
    if (!Number.isFinite(o.presenceDelayMs) || o.presenceDelayMs < 0) {
      throw new Error('SocketHub: presenceDelayMs must be >= 0');
    }
    if (!Number.isInteger(o.streamMaxLen) || o.streamMaxLen < 100) {
      throw new Error('SocketHub: streamMaxLen must be an integer >= 100');
    }
    for (const origin of o.allowedOrigins) {
      if (origin !== '*' && !URL.canParse(origin)) {
        throw new Error(`SocketHub: allowedOrigins holds an invalid origin: ${origin}`);
      }
    }
    this.#access = options.access;
    this.#logger = options.logger ?? stderrLogger;
    this.#hooks = { ...options.hooks };
    this.#presenceDelayMs = o.presenceDelayMs;
    this.#allowedOrigins = o.allowedOrigins.map((origin) =>
      origin === '*' ? origin : new URL(origin).origin,
    );
    this.#limiter = new RateLimiterMemory({
      points: o.rateLimit.points,
      duration: o.rateLimit.durationSeconds,
    });
    const names = redisNames(o.keyPrefix);
    this.io = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>(
      {
        path: o.path,
        serveClient: false,
        maxHttpBufferSize: o.maxHttpBufferSize,
        cors: {
          origin: this.#allowedOrigins.includes('*') ? true : this.#allowedOrigins,
          credentials: false,
        },
        allowRequest: (request, callback) => callback(null, this.#originAllowed(request)),
        connectionStateRecovery: {
          maxDisconnectionDuration: o.recoveryWindowMs,
          // Recovered sockets skip the token check (the token may have expired meanwhile); their
          // rooms are re-checked against current membership instead (#revalidate).
          skipMiddlewares: true,
        },
        ...(options.redis
          ? {
              adapter: createAdapter(options.redis, {
                streamName: names.socketIoStream,
                channelPrefix: names.socketIoChannelPrefix,
                sessionKeyPrefix: names.socketIoSessionKeyPrefix,
                maxLen: o.streamMaxLen,
                // Short blocking reads only bound how long close() leaves a connection behind;
                // new entries still wake the read at once.
                blockTimeInMs: 1000,
                onlyPlaintext: true,
              }),
            }
          : {}),
      },
    );
    this.io.use((socket, next) => {
      this.#authenticate(socket).then(
        () => next(),
        (error: unknown) => {
          const refusal = new Error(
            error instanceof RealtimeError ? error.message : 'unauthorized',
          );
          Object.assign(refusal, { data: toWireError(error) });
          next(refusal);
        },
      );
    });
    this.io.on('connection', (socket) => this.#onConnection(socket));
  }

  /**
   * Mounts the hub on an HTTP server: requests and upgrades under the path go to Socket.IO,
   * everything else to the listeners the server already had (so attach after the REST app).
   */
  attach(httpServer: HttpServer): void {
    if (this.#attached) throw new Error('SocketHub: already attached');
    this.#attached = true;
    this.io.attach(httpServer);
  }

  /** Replaces the hooks given so far with these (merged by name). */
  setHooks(hooks: RealtimeHooks): void {
    this.#hooks = { ...this.#hooks, ...hooks };
  }

  #originAllowed(request: IncomingMessage): boolean {
    const origin = request.headers.origin;
    // Non-browser clients send no Origin; tokens, not cookies, authenticate them.
    if (!origin) return true;
    if (this.#allowedOrigins.includes('*')) return true;
    if (!URL.canParse(origin)) return false;
    const parsed = new URL(origin);
    if (parsed.host === request.headers.host) return true;
    return this.#allowedOrigins.includes(parsed.origin);
  }

  async #authenticate(socket: HubSocket): Promise<void> {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const token = typeof auth?.token === 'string' ? auth.token : '';
    if (!token) throw new RealtimeError('unauthorized', 'missing token');
    const user = await this.#access.authenticate(token);
    if (!user) throw new RealtimeError('unauthorized', 'invalid token');
    socket.data = { userId: user.userId, name: user.name };
  }

  #onConnection(socket: HubSocket): void {
    const joined = new Map<string, ProjectAccess>();
    this.#joined.set(socket.id, joined);
    socket.on('error', (error) => {
      this.#logger.debug({ err: error, userId: socket.data.userId }, 'socket.io: socket error');
    });
    socket.use((packet, next) => {
      const [event, ...args] = packet;
      this.#limiter.consume(socket.id).then(
        () => next(),
        () => {
          this.emit('rate-limited', socket.data.userId, String(event));
          // Answer the ack, if any, and drop the event: calling next(error) would only reach
          // a server-side "error" listener, and the client would wait for its ack forever.
          const ack = args.at(-1);
          if (typeof ack === 'function') {
            (ack as AckFunction)({
              error: { code: 'rate_limited', message: 'too many events, slow down' },
            });
          }
        },
      );
    });
    socket.on('project:join', (payload, ack) => {
      void this.#join(socket, joined, payload, ack);
    });
    socket.on('project:leave', (payload, ack) => {
      void this.#leave(socket, joined, payload, ack);
    });
    socket.on('chat:send', (payload, ack) => {
      void this.#chatSend(socket, joined, payload, ack);
    });
    socket.on('disconnecting', () => {
      const projects = [...joined.keys()];
      socket.once('disconnect', () => {
        this.#joined.delete(socket.id);
        this.#limiter.delete(socket.id).catch(() => undefined);
        for (const projectId of projects) {
          this.emit('left', projectId, socket.data.userId);
          this.#schedulePresence(projectId);
        }
      });
    });
    if (socket.recovered) void this.#revalidate(socket, joined);
  }

  /**
   * A recovered socket comes back with the rooms it had (possibly on another node): confirm each
   * project against current membership, leaving the ones it lost meanwhile.
   */
  async #revalidate(socket: HubSocket, joined: Map<string, ProjectAccess>): Promise<void> {
    for (const room of socket.rooms) {
      if (!room.startsWith('project:')) continue;
      const projectId = room.slice('project:'.length);
      try {
        const access = await this.#access.projectAccess(socket.data.userId, projectId);
        if (access) {
          joined.set(projectId, access);
          // The room saw this user leave when the connection dropped: announce the return.
          this.emit('joined', projectId, socket.data.userId);
          this.#schedulePresence(projectId);
        } else {
          await socket.leave(room);
          this.#schedulePresence(projectId);
        }
      } catch (error) {
        this.#logger.error({ err: error, projectId }, 'socket.io: revalidating a room failed');
      }
    }
  }

  async #checkAccess(userId: string, projectId: string): Promise<ProjectAccess | null> {
    // Re-check if a membership change arrived while we asked (same reasoning as for Yjs).
    for (let round = 0; round < 10; round += 1) {
      const epoch = this.#membershipEpoch;
      const access = await this.#access.projectAccess(userId, projectId);
      if (epoch === this.#membershipEpoch) return access;
    }
    throw new Error('membership keeps changing');
  }

  async #join(
    socket: HubSocket,
    joined: Map<string, ProjectAccess>,
    payload: unknown,
    ack: Ack<{ ok: true }> | undefined,
  ): Promise<void> {
    const reply: Ack<{ ok: true }> = typeof ack === 'function' ? ack : () => {};
    const projectId = projectIdOf(payload, reply);
    if (projectId === null) return;
    try {
      const access = await this.#checkAccess(socket.data.userId, projectId);
      if (!access) {
        reply({ error: { code: 'forbidden', message: 'not a member of this project' } });
        return;
      }
      if (socket.disconnected) return;
      joined.set(projectId, access);
      await socket.join(projectRoom(projectId));
      reply({ ok: true });
      this.emit('joined', projectId, socket.data.userId);
      this.#schedulePresence(projectId);
    } catch (error) {
      this.#logger.error({ err: error, projectId }, 'socket.io: project:join failed');
      reply({ error: toWireError(error) });
    }
  }

  async #leave(
    socket: HubSocket,
    joined: Map<string, ProjectAccess>,
    payload: unknown,
    ack: Ack<{ ok: true }> | undefined,
  ): Promise<void> {
    const reply: Ack<{ ok: true }> = typeof ack === 'function' ? ack : () => {};
    const projectId = projectIdOf(payload, reply);
    if (projectId === null) return;
    const wasJoined = joined.delete(projectId);
    await socket.leave(projectRoom(projectId));
    reply({ ok: true });
    if (wasJoined) {
      this.emit('left', projectId, socket.data.userId);
      this.#schedulePresence(projectId);
    }
  }

  async #chatSend(
    socket: HubSocket,
    joined: Map<string, ProjectAccess>,
    payload: unknown,
    ack: Ack<{ messageId: string }> | undefined,
  ): Promise<void> {
    const reply: Ack<{ messageId: string }> = typeof ack === 'function' ? ack : () => {};
    const parsed = chatPayload.safeParse(payload);
    if (!parsed.success) {
      reply({ error: { code: 'invalid_payload', message: 'projectId and content are required' } });
      return;
    }
    const { projectId, content } = parsed.data;
    const access = joined.get(projectId);
    if (!access) {
      reply({ error: { code: 'not_joined', message: 'join the project first' } });
      return;
    }
    const handler = this.#hooks.onChatSend;
    if (!handler) {
      reply({ error: { code: 'unavailable', message: 'chat is not available' } });
      return;
    }
    try {
      const result = await handler({
        userId: socket.data.userId,
        name: socket.data.name,
        projectId,
        workspaceId: access.workspaceId,
        role: access.role,
        content,
      });
      reply({ messageId: result.messageId });
    } catch (error) {
      if (!(error instanceof RealtimeError)) {
        this.#logger.error({ err: error, projectId }, 'socket.io: chat:send hook failed');
      }
      reply({ error: toWireError(error) });
    }
  }

  /**
   * Coalesces presence updates per room: when many members join at once (a class opening the
   * project, a node's clients reconnecting after a restart) the room gets one update listing
   * them all instead of one per join, each of which would ask every node for its sockets.
   */
  #schedulePresence(projectId: string): void {
    if (this.#closing || this.#presenceTimers.has(projectId)) return;
    const timer = setTimeout(() => {
      this.#presenceTimers.delete(projectId);
      void this.#broadcastPresence(projectId);
    }, this.#presenceDelayMs);
    timer.unref();
    this.#presenceTimers.set(projectId, timer);
  }

  /** Sends the room its current members (across all nodes), one entry per user. */
  async #broadcastPresence(projectId: string): Promise<void> {
    if (this.#closing) return;
    const room = projectRoom(projectId);
    try {
      const sockets = await this.io.in(room).fetchSockets();
      const users = new Map<string, PresenceUser>();
      for (const socket of sockets) {
        users.set(socket.data.userId, { userId: socket.data.userId, name: socket.data.name });
      }
      this.io.to(room).emit('presence', { projectId, users: [...users.values()] });
    } catch (error) {
      this.#logger.warn({ err: error, projectId }, 'socket.io: presence update failed');
    }
  }

  /**
   * Applies a membership change to this node's sockets: a removed member's sockets that joined
   * a project of that workspace are disconnected, a changed role is recorded (the chat hook
   * sees it). Cross-node delivery is the caller's.
   */
  applyMembershipChange(change: MembershipChange): void {
    this.#membershipEpoch += 1;
    for (const [socketId, joined] of this.#joined) {
      const socket = this.io.of('/').sockets.get(socketId);
      if (!socket || socket.data.userId !== change.userId) continue;
      const affected = [...joined.entries()].filter(
        ([, access]) => access.workspaceId === change.workspaceId,
      );
      if (affected.length === 0) continue;
      if (change.role === null) {
        socket.disconnect(true);
      } else {
        for (const [projectId, access] of affected) {
          joined.set(projectId, { ...access, role: change.role });
        }
      }
    }
  }

  /**
   * Ends this node's part of a deleted project's room: each local socket in it gets
   * `project:deleted`, leaves the room and is forgotten as joined (so `chat:send` for the
   * project is refused), but stays connected for its other projects. Cross-node delivery is
   * the caller's.
   */
  applyProjectDeleted(projectId: string): void {
    // A join still checking access re-checks and finds the project gone.
    this.#membershipEpoch += 1;
    const room = projectRoom(projectId);
    const namespace = this.io.of('/');
    // The room, plus any socket recorded as joined but not (or no longer) in it: both must go.
    const socketIds = new Set(namespace.adapter.rooms.get(room));
    for (const [socketId, joined] of this.#joined) {
      if (joined.has(projectId)) socketIds.add(socketId);
    }
    for (const socketId of socketIds) {
      const wasJoined = this.#joined.get(socketId)?.delete(projectId) ?? false;
      const socket = namespace.sockets.get(socketId);
      if (!socket) continue;
      socket.emit('project:deleted', { projectId });
      Promise.resolve(socket.leave(room)).catch((error: unknown) => {
        this.#logger.warn({ err: error, projectId }, 'socket.io: leaving a deleted room failed');
      });
      if (wasJoined) this.emit('left', projectId, socket.data.userId);
    }
    // Nobody is left to tell who is present.
    const timer = this.#presenceTimers.get(projectId);
    if (timer) clearTimeout(timer);
    this.#presenceTimers.delete(projectId);
  }

  /**
   * Disconnects this node's sockets and stops the adapter. Leaves the HTTP server alone (it is
   * the caller's; Socket.IO's own close() would close it). Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#presenceTimers.values()) clearTimeout(timer);
      this.#presenceTimers.clear();
      this.io.local.disconnectSockets(true);
      try {
        await this.io.of('/').adapter.close();
      } catch (error) {
        this.#logger.warn({ err: error }, 'socket.io: closing the adapter failed');
      }
      this.io.engine?.close();
      this.#joined.clear();
    })();
    return this.#closing;
  }
}
