/**
 * Every Redis key, stream and channel realtime uses, derived from one prefix so that several
 * deployments (or test runs) can share a Redis without seeing each other.
 */
export interface RedisNames {
  /** The stream the Socket.IO redis-streams adapter (and the room emitter) write to. */
  socketIoStream: string;
  /** Prefix of the adapter's pub/sub channels. */
  socketIoChannelPrefix: string;
  /** Prefix of the keys holding Socket.IO sessions for connection state recovery. */
  socketIoSessionKeyPrefix: string;
  /** Prefix of the realtime message bus channels (Yjs fan-out, membership changes). */
  busChannelPrefix: string;
}

/** Default prefix: `reelroom`. */
export const DEFAULT_REDIS_KEY_PREFIX = 'reelroom';

export function redisNames(prefix: string = DEFAULT_REDIS_KEY_PREFIX): RedisNames {
  if (prefix.length === 0 || /[\s*?[\]]/.test(prefix)) {
    throw new Error(`invalid Redis key prefix: ${JSON.stringify(prefix)}`);
  }
  return {
    socketIoStream: `${prefix}:sio`,
    socketIoChannelPrefix: `${prefix}:sio`,
    socketIoSessionKeyPrefix: `${prefix}:sio:session:`,
    busChannelPrefix: `${prefix}:bus:`,
  };
}
