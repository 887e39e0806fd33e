import type { createClient } from 'redis';

/** A node-redis client, as `createClient()` returns it. */
export type RedisClient = ReturnType<typeof createClient>;
