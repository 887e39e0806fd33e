export type {
  AccessCheck,
  AuthenticatedUser,
  MemberRole,
  MembershipChange,
  ProjectAccess,
} from './access-check.ts';
export { canWrite } from './access-check.ts';
export type { Realtime, RealtimeOptions } from './attach-realtime.ts';
export { attachRealtime } from './attach-realtime.ts';
export type { CompactionSchedulerOptions } from './compaction-scheduler.ts';
export { CompactionScheduler } from './compaction-scheduler.ts';
export { DocumentBusMessageKind } from './document-bus-message.ts';
export type {
  ConnectionIdentity,
  DocumentConnection,
  DocumentPeer,
} from './document-connection.ts';
export type {
  DocumentEdit,
  DocumentManagerEvents,
  DocumentManagerOptions,
} from './document-manager.ts';
export { DocumentManager } from './document-manager.ts';
export type {
  Compaction,
  DocumentStore,
  LoadOptions,
  StoredDocument,
  StoredUpdate,
  UpdateLogEntry,
} from './document-store.ts';
export type { CompactionStep } from './log-compaction.ts';
export { compactLogStep } from './log-compaction.ts';
export type { RealtimeLogger } from './logger.ts';
export { stderrLogger } from './logger.ts';
export type { BusListener, MessageBus, MessageBusEvents, Unsubscribe } from './message-bus.ts';
export { LocalMessageBus } from './message-bus.ts';
export type { RealtimeErrorCode } from './realtime-error.ts';
export { RealtimeError } from './realtime-error.ts';
export type { ChatSendContext, RealtimeHooks } from './realtime-hooks.ts';
export type {
  DedicatedRedisSettings,
  RedisClient,
  RedisClientSettings,
  RedisConnectionFactory,
  RedisConnectionLogger,
  RedisConnectionSettings,
  RedisConnections,
  RedisFactorySettings,
  RespRedisClient,
} from './redis-client.ts';
export {
  closeRedisClient,
  createRedisClient,
  openRedisConnections,
  reconnectDelay,
  redisConnectionFactory,
  redisConnectionOptions,
  watchRedisConnection,
} from './redis-client.ts';
export type { RedisMessageBusOptions } from './redis-message-bus.ts';
export { RedisMessageBus } from './redis-message-bus.ts';
export type { RedisNames } from './redis-names.ts';
export { DEFAULT_REDIS_KEY_PREFIX, redisNames } from './redis-names.ts';
export type { RedisRoomEmitterOptions } from './redis-room-emitter.ts';
export { RedisRoomEmitter } from './redis-room-emitter.ts';
export type { RoomEmitter } from './room-emitter.ts';
export { ServerRoomEmitter } from './room-emitter.ts';
export type { HubServer, HubSocket, SocketHubEvents, SocketHubOptions } from './socket-hub.ts';
export { SocketHub } from './socket-hub.ts';
export type { UpdateLogWriterOptions, WriteGuard } from './update-log-writer.ts';
export { UpdateLogWriter } from './update-log-writer.ts';
export type { YjsWebSocketServerOptions } from './yjs-websocket-server.ts';
export { YjsWebSocketServer } from './yjs-websocket-server.ts';
