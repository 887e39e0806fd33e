import { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import { Server } from 'socket.io';
import type { z } from 'zod';
import { canonicalId } from '../shared/ids.ts';
import type {
  Ack,
  ClientToServerEvents,
  InterServerEvents,
  PresenceUser,
  ServerToClientEvents,
  SocketData,
} from '../shared/socket-events.ts';
import {
  chatSendPayloadSchema,
  projectPayloadSchema,
  projectRoom,
} from '../shared/socket-events.ts';
import type { AccessCheck, MembershipChange, ProjectAccess } from './access-check.ts';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';
import { isClientFacing, RealtimeError, toWireError } from './realtime-error.ts';
import type { RealtimeHooks } from './realtime-hooks.ts';
import { guardRecovery, type RecoveredSession } from './recovery-guard.ts';
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
  /**
   * Sockets one user may have connected to this node. Default 20: a person with many tabs,
   * not a script opening thousands. A handshake beyond it fails with `too_many_connections`.
   */
  maxSocketsPerUser?: number;
  /**
   * `project:join`s one user may send, across all their sockets on this node: `points` per
   * `durationSeconds`. Default 30 per 60 s: a person opens a few projects a minute, a script
   * probing project ids gets an error ack (`rate_limited`) after 30.
   */
  joinRateLimit?: { points: number; durationSeconds: number };
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
  maxSocketsPerUser: 20,
  joinRateLimit: { points: 30, durationSeconds: 60 },
};

/** `content: must not contain control characters (...)`: each problem with its field. */
function describePayloadIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || 'payload'}: ${issue.message}`)
    .join('; ');
}

/** The payload's project id, or null once the ack was told the payload is invalid. */
function projectIdOf(payload: unknown, reply: Ack<{ ok: true }>): string | null {
  const parsed = projectPayloadSchema.safeParse(payload);
  // One spelling of an id, one room (see canonicalId).
  if (parsed.success) return canonicalId(parsed.data.projectId);
  reply({ error: { code: 'invalid_payload', message: describePayloadIssues(parsed.error) } });
  return null;
}

/** What every project room's name starts with (see `projectRoom`). */
const PROJECT_ROOM_PREFIX = projectRoom('');

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
  readonly #joinLimiter: RateLimiterMemory;
  readonly #maxSocketsPerUser: number;
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
      maxSocketsPerUser: options.maxSocketsPerUser ?? DEFAULTS.maxSocketsPerUser,
      joinRateLimit: options.joinRateLimit ?? DEFAULTS.joinRateLimit,
    };
    if (!Number.isInteger(o.maxSocketsPerUser) || o.maxSocketsPerUser < 1) {
      throw new Error('SocketHub: maxSocketsPerUser must be an integer >= 1');
    }
    if (
      !Number.isInteger(o.joinRateLimit.points) ||
      o.joinRateLimit.points < 1 ||
      !(o.joinRateLimit.durationSeconds > 0)
    ) {
      throw new Error('SocketHub: joinRateLimit needs points >= 1 and durationSeconds > 0');
    }
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
    this.#joinLimiter = new RateLimiterMemory({
      points: o.joinRateLimit.points,
      duration: o.joinRateLimit.durationSeconds,
    });
    this.#maxSocketsPerUser = o.maxSocketsPerUser;
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
    // Before Socket.IO restores a session (rooms, missed packets), its rooms are re-checked.
    guardRecovery(this.io.of('/').adapter, (session) => this.#mayRecover(session));
    this.io.use((socket, next) => {
      this.#authenticate(socket).then(
        () => next(),
        (error: unknown) => {
          const refusal = new Error(isClientFacing(error) ? error.message : 'unauthorized');
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

  /** Sockets connected to this node. */
  get socketCount(): number {
    return this.io.of('/').sockets.size;
  }

  /** Project rooms with at least one socket on this node (sockets' own rooms not counted). */
  get roomCount(): number {
    let count = 0;
    for (const room of this.io.of('/').adapter.rooms.keys()) {
      if (room.startsWith(PROJECT_ROOM_PREFIX)) count += 1;
    }
    return count;
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
    if (this.#socketsOf(user.userId) >= this.#maxSocketsPerUser) {
      throw new RealtimeError('too_many_connections', 'too many connections for one user');
    }
    socket.data = { userId: user.userId, name: user.name };
  }

  /** The user's sockets on this node, connected or in their handshake. */
  #socketsOf(userId: string): number {
    let count = 0;
    for (const socket of this.io.of('/').sockets.values()) {
      if (socket.data.userId === userId) count += 1;
    }
    return count;
  }

  /**
   * Whether a disconnected socket may recover its session (see guardRecovery): every project
   * room it was in must still be open to its user, and the user under the socket cap. Checked
   * before Socket.IO rejoins the rooms and replays what they missed, so a member removed while
   * away gets neither; refused, the client connects afresh (token checked) and joins again.
   */
  async #mayRecover(session: RecoveredSession): Promise<boolean> {
    const data = session.data as Partial<SocketData> | undefined;
    const userId = data?.userId;
    if (typeof userId !== 'string') return false;
    if (this.#socketsOf(userId) >= this.#maxSocketsPerUser) return false;
    try {
      for (const room of session.rooms) {
        if (!room.startsWith(PROJECT_ROOM_PREFIX)) continue;
        const access = await this.#checkAccess(userId, room.slice(PROJECT_ROOM_PREFIX.length));
        if (!access) return false;
      }
      return true;
    } catch (error) {
      this.#logger.error({ err: error, userId }, 'socket.io: checking a recovered session failed');
      return false;
    }
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
      await this.#joinLimiter.consume(socket.data.userId);
    } catch {
      this.emit('rate-limited', socket.data.userId, 'project:join');
      reply({ error: { code: 'rate_limited', message: 'too many joins, slow down' } });
      return;
    }
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
    const parsed = chatSendPayloadSchema.safeParse(payload);
    if (!parsed.success) {
      reply({ error: { code: 'invalid_payload', message: describePayloadIssues(parsed.error) } });
      return;
    }
    const { content } = parsed.data;
    const projectId = canonicalId(parsed.data.projectId);
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
      if (!isClientFacing(error)) {
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
    // Every socket of the user hears it, also one that joined no project of the workspace
    // yet (a member just added): its page shows the new workspace's projects at once.
    for (const socket of this.io.of('/').sockets.values()) {
      if (socket.data.userId === change.userId) {
        socket.emit('membership:changed', { workspaceId: change.workspaceId, role: change.role });
      }
    }
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
   * Re-checks every local socket's joined projects against current membership, for when the
   * membership changes and project deletions other nodes published may have been lost (the bus
   * lost its Redis connection for a while). Roles are updated. A socket that lost access to
   * every project it joined in a workspace was removed from it and is disconnected, as
   * {@link applyMembershipChange} does; a project lost while others of its workspace are still
   * reachable was deleted and is left as {@link applyProjectDeleted} does.
   */
  async recheckAccess(): Promise<void> {
    this.#membershipEpoch += 1;
    const namespace = this.io.of('/');
    for (const [socketId, joined] of [...this.#joined]) {
      const socket = namespace.sockets.get(socketId);
      if (!socket) continue;
      const byWorkspace = new Map<string, Array<[string, ProjectAccess | null]>>();
      try {
        for (const [projectId, before] of [...joined]) {
          const now = await this.#access.projectAccess(socket.data.userId, projectId);
          const list = byWorkspace.get(before.workspaceId) ?? [];
          list.push([projectId, now]);
          byWorkspace.set(before.workspaceId, list);
        }
      } catch (error) {
        this.#logger.error(
          { err: error, userId: socket.data.userId },
          'socket.io: re-checking access failed',
        );
        continue;
      }
      if (socket.disconnected) continue;
      if ([...byWorkspace.values()].some((list) => list.every(([, now]) => now === null))) {
        socket.disconnect(true);
        continue;
      }
      for (const [projectId, now] of [...byWorkspace.values()].flat()) {
        if (!joined.has(projectId)) continue;
        if (now) {
          joined.set(projectId, now);
          continue;
        }
        joined.delete(projectId);
        socket.emit('project:deleted', { projectId });
        await Promise.resolve(socket.leave(projectRoom(projectId))).catch((error: unknown) => {
          this.#logger.warn({ err: error, projectId }, 'socket.io: leaving a lost room failed');
        });
        this.emit('left', projectId, socket.data.userId);
        this.#schedulePresence(projectId);
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
   * Closes this node's connections and stops the adapter. Leaves the HTTP server alone (it is
   * the caller's; Socket.IO's own close() would close it). Safe to call twice.
   *
   * The connections are closed at the transport, not with `disconnectSockets(true)`: a stock
   * client takes a server-side disconnect ("io server disconnect") as final and never retries,
   * while after a closed transport ("transport close") it reconnects by itself, to this node
   * once it is back or to another one, and recovers its session where the adapter kept it.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#presenceTimers.values()) clearTimeout(timer);
      this.#presenceTimers.clear();
      this.io.engine?.close();
      try {
        await this.io.of('/').adapter.close();
      } catch (error) {
        this.#logger.warn({ err: error }, 'socket.io: closing the adapter failed');
      }
      this.#joined.clear();
    })();
    return this.#closing;
  }
}
