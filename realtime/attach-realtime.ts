import { randomUUID } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AccessCheck, MembershipChange } from './access-check.ts';
import type { DocumentEdit, DocumentManagerOptions } from './document-manager.ts';
import { DocumentManager } from './document-manager.ts';
import type { DocumentStore } from './document-store.ts';
import type { RealtimeLogger } from './logger.ts';
import { stderrLogger } from './logger.ts';
import { MembershipChannel } from './membership-channel.ts';
import type { MessageBus } from './message-bus.ts';
import { LocalMessageBus } from './message-bus.ts';
import type { RealtimeHooks } from './realtime-hooks.ts';
import { closeRedisClient, type RedisClient, type RedisConnections } from './redis-client.ts';
import { RedisMessageBus } from './redis-message-bus.ts';
import { DEFAULT_REDIS_KEY_PREFIX, redisNames } from './redis-names.ts';
import type { RoomEmitter } from './room-emitter.ts';
import { ServerRoomEmitter } from './room-emitter.ts';
import type { HubServer, SocketHubOptions } from './socket-hub.ts';
import { SocketHub } from './socket-hub.ts';
import type { YjsWebSocketServerOptions } from './yjs-websocket-server.ts';
import { YjsWebSocketServer } from './yjs-websocket-server.ts';

export interface RealtimeOptions {
  /** Where Yjs documents are stored (the server's Postgres/PGlite store). Required. */
  documentStore: DocumentStore;
  /** Token and membership checks. Required. */
  access: AccessCheck;
  /**
   * Redis for running several nodes: Yjs updates, awareness, membership changes and project
   * deletions cross nodes on pub/sub, Socket.IO rooms through the redis-streams adapter.
   * `connections` are the process's (`openRedisConnections`): the bus publishes on the shared
   * client, the adapter gets a dedicated connection that realtime closes; the shared client
   * stays open for its owner. Default: none, everything in-process (one node).
   */
  redis?: { connections: RedisConnections; keyPrefix?: string };
  /** Hooks such as the coach's `onChatSend`; more can be set later with `setHooks`. */
  hooks?: RealtimeHooks;
  /** Tuning of the document core (grace period, compaction). */
  documents?: Omit<DocumentManagerOptions, 'store' | 'access' | 'bus' | 'nodeId' | 'logger'>;
  /** Tuning of the Yjs WebSocket endpoint (path prefix, payload limit, pings). */
  yjs?: Omit<YjsWebSocketServerOptions, 'documents' | 'logger'>;
  /** Tuning of the Socket.IO hub (origins, buffer size, rate limit, recovery window). */
  socketIo?: Omit<SocketHubOptions, 'access' | 'redis' | 'keyPrefix' | 'hooks' | 'logger'>;
  /** Default: warnings and errors to stderr. */
  logger?: RealtimeLogger;
}

/** The realtime layer mounted on an HTTP server. */
export interface Realtime {
  /** This node's id on the bus. */
  readonly nodeId: string;
  /** The Socket.IO server, typed with the wire contract's event maps. */
  readonly io: HubServer;
  readonly hub: SocketHub;
  readonly documents: DocumentManager;
  /** Publishes room events from this process (reaches every node when Redis is configured). */
  readonly emitter: RoomEmitter;
  /**
   * Makes open connections follow a membership change on every node: removed members are
   * disconnected (Yjs with 4403, Socket.IO sockets that joined a project of the workspace),
   * a member demoted to viewer is read-only from then on. Call it after the change committed.
   */
  notifyMembershipChanged(change: MembershipChange): Promise<void>;
  /**
   * Closes every connection to the project's documents and rooms on every node (the project was deleted).
   * Yjs connections close with 4404 (final for the stock client) and the loaded documents are
   * dropped without writing; sockets get `project:deleted` and leave the room but stay
   * connected. Call it after the delete committed.
   */
  notifyProjectDeleted(projectId: string): Promise<void>;
  /** A Y.Text of a document (default the script's `script`), read from the store. */
  getDocumentText(docName: string, textName?: string): Promise<string>;
  /** A server-side edit of a document, stored and broadcast like a client's. */
  editDocument(docName: string, edit: DocumentEdit): Promise<void>;
  /** Adds or replaces hooks (e.g. the coach registers `onChatSend` once it is ready). */
  setHooks(hooks: RealtimeHooks): void;
  /**
   * Stops the realtime layer: closes Yjs connections (1001) after storing every accepted
   * update, closes the sockets' transports (stock clients reconnect, to this node once it is
   * back or to another), closes Redis connections. Leaves the HTTP server to its owner. Safe
   * to call twice.
   */
  close(): Promise<void>;
}

/**
 * Mounts Socket.IO (`/socket.io`) and the Yjs endpoint (`/yjs/<docName>`) on an HTTP server
 * that already has its REST handler. Connects to Redis first when configured, so the node is
 * part of the cluster before it takes connections.
 */
export async function attachRealtime(
  httpServer: HttpServer,
  options: RealtimeOptions,
): Promise<Realtime> {
  if (!httpServer) throw new Error('attachRealtime: httpServer is required');
  if (!options?.documentStore) throw new Error('attachRealtime: documentStore is required');
  if (!options.access) throw new Error('attachRealtime: access is required');
  const logger = options.logger ?? stderrLogger;
  const nodeId = randomUUID();
  const keyPrefix = options.redis?.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  const names = redisNames(keyPrefix);

  // The Socket.IO adapter gets a connection of its own whose commands wait out an outage, since
  // its stream reader retries at once on a failure and would spin. The bus publishes on the
  // process's shared client, which fails fast: a message published into an outage is lost
  // anyway and the resync makes up for it (its subscriber is a duplicate of that client).
  let redis: RedisClient | null = null;
  let bus: MessageBus;
  if (options.redis) {
    const { connections } = options.redis;
    redis = connections.dedicated('realtime socket.io adapter', { failFast: false });
    await redis.connect();
    bus = new RedisMessageBus({
      redis: connections.shared,
      channelPrefix: names.busChannelPrefix,
      logger,
    });
  } else {
    bus = new LocalMessageBus();
  }

  const documents = new DocumentManager({
    ...options.documents,
    store: options.documentStore,
    access: options.access,
    bus,
    nodeId,
    logger,
  });
  const yjs = new YjsWebSocketServer({ ...options.yjs, documents, logger });
  const hub = new SocketHub({
    ...options.socketIo,
    access: options.access,
    ...(redis ? { redis } : {}),
    keyPrefix,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    logger,
  });
  const membership = new MembershipChannel({
    bus,
    nodeId,
    logger,
    handlers: {
      applyMembershipChange: (change) => {
        documents.applyMembershipChange(change);
        hub.applyMembershipChange(change);
      },
      applyProjectDeleted: (projectId) => {
        documents.applyProjectDeleted(projectId);
        hub.applyProjectDeleted(projectId);
      },
    },
  });
  await membership.start();
  // After the bus reconnects (documents resync themselves): membership changes and deletions
  // published during the gap were lost, so every open socket's rooms are checked again.
  const onResync = () => {
    hub.recheckAccess().catch((error: unknown) => {
      logger.error({ err: error }, 'realtime: re-checking socket access after a resync failed');
    });
  };
  bus.on('resync', onResync);

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (yjs.handles(request)) yjs.handleUpgrade(request, socket, head);
  };
  httpServer.on('upgrade', onUpgrade);
  hub.attach(httpServer);
  const emitter = new ServerRoomEmitter(hub.io);

  let closing: Promise<void> | null = null;
  const step = async (name: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      logger.error({ err: error }, `realtime: closing ${name} failed`);
    }
  };

  return {
    nodeId,
    io: hub.io,
    hub,
    documents,
    emitter,
    notifyMembershipChanged: (change) => membership.publish(change),
    notifyProjectDeleted: (projectId) => membership.publishProjectDeleted(projectId),
    getDocumentText: (docName, textName) => documents.getDocumentText(docName, textName),
    editDocument: (docName, edit) => documents.editDocument(docName, edit),
    setHooks: (hooks) => hub.setHooks(hooks),
    close() {
      closing ??= (async () => {
        httpServer.off('upgrade', onUpgrade);
        bus.off('resync', onResync);
        await step('membership channel', () => membership.close());
        await step('documents', () => documents.close());
        await step('yjs endpoint', () => yjs.close());
        await step('socket.io hub', () => hub.close());
        await step('emitter', () => emitter.close());
        await step('message bus', () => bus.close());
        if (redis) {
          const adapterClient = redis;
          await step('redis', () => closeRedisClient(adapterClient));
        }
      })();
      return closing;
    },
  };
}
