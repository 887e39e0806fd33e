import { randomUUID } from 'node:crypto';
import {
  type RedisConnectionFactory,
  type RedisConnectionLogger,
  watchRedisConnection,
} from '../realtime/redis-client.ts';
import { errorMessage } from './errors.ts';
import {
  type AddJobOptions,
  type AddJobResult,
  backoffDelay,
  type CancelResult,
  type DeadLetter,
  type FailResult,
  type HeartbeatResult,
  type JobLease,
  type JobQueue,
  type JobQueueOptions,
  type JobQueueStats,
  type QueueJobInfo,
  type QueueJobState,
  resolveJobQueueOptions,
  type TakeOptions,
} from './job-queue.ts';

/**
 * RESP2, so raw replies of scripts and commands are plain arrays in every client version.
 * Commands wait out an outage (heart-beats and completions go through once Redis is back,
 * within the lease, and the blocking reads do not spin).
 */
function makeClient(redis: RedisConnectionFactory, name: string) {
  return redis.dedicated(name, { failFast: false, RESP: 2 });
}
type RedisClient = ReturnType<typeof makeClient>;

export interface RedisJobQueueOptions extends JobQueueOptions {
  /**
   * Where the queue opens its connections (the process's `RedisConnections`): one for commands,
   * one for cancel signals, one per concurrent blocking read. The queue owns and closes them.
   */
  redis: RedisConnectionFactory;
  /**
   * Prefix of every key of this queue (`<prefix>:stream`, `<prefix>:dead`, ...); two queues with
   * the same prefix are the same queue. Tests use `test-<uuid>`.
   */
  prefix: string;
  /**
   * Completing a job also hands its consumer the next waiting one, in the same round trip; the
   * next `take` by that consumer returns it at once. For consumers that take again right after
   * completing (the worker pool). A prefetched job not taken within a quarter lease is handed
   * back, and `close()` hands back the rest. Default false.
   */
  prefetch?: boolean;
  /** Where the queue's connections report errors and reconnects. Default: stderr. */
  logger?: RedisConnectionLogger;
}

/** Consumer group every worker reads through. */
const GROUP = 'workers';

/*
 * Keys (standalone Redis; scripts build job keys from the prefix):
 *   <p>:stream        deliveries, entries {job: <jobId>}; consumer group `workers`
 *   <p>:delayed       zset jobId -> due epoch ms (retries waiting out their backoff)
 *   <p>:dead          dead-letter stream {job, data, error, attempts, at}
 *   <p>:job:<id>      hash data, state, deliveries, failures, lastError, cancel, entry, consumer
 *   <p>:idem:<key>    jobId first added with this idempotency key
 *   <p>:cancel        pub/sub channel of cancelled job ids
 * A job's `entry` is its current stream entry; a stream entry that is not (a retried or
 * released job's old entry) is stale and dropped when read.
 */

/** KEYS: job, stream, [idem]. ARGV: jobId, data, now, retentionMs. Returns {jobId, created}. */
const ADD = `
if #KEYS > 2 then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {existing, 0} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {ARGV[1], 0} end
local entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
redis.call('HSET', KEYS[1], 'jobId', ARGV[1], 'data', ARGV[2], 'state', 'waiting', 'deliveries', 0,
  'failures', 0, 'entry', entry, 'createdAt', ARGV[3])
if #KEYS > 2 then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4]) end
return {ARGV[1], 1}
`;

/** Shared by the scripts that hand a stream entry to a consumer. */
const ACTIVATE_FN = `
local function final(state)
  return (not state) or state == 'completed' or state == 'cancelled' or state == 'dead'
end
local function drop(stream, entry)
  redis.call('XACK', stream, '${GROUP}', entry)
  redis.call('XDEL', stream, entry)
end
-- Returns the job's fields, or false when the entry is stale (dropped).
local function activate(prefix, stream, entry, jobId, consumer, takeover)
  local key = prefix .. ':job:' .. jobId
  local state = redis.call('HGET', key, 'state')
  if final(state) or redis.call('HGET', key, 'entry') ~= entry then
    drop(stream, entry)
    return false
  end
  if takeover then
    local previous = redis.call('HGET', key, 'consumer') or '?'
    redis.call('HINCRBY', key, 'failures', 1)
    redis.call('HSET', key, 'lastError', 'worker ' .. previous .. ' stopped heart-beating')
  end
  redis.call('HINCRBY', key, 'deliveries', 1)
  redis.call('HSET', key, 'state', 'active', 'consumer', consumer)
  return redis.call('HGETALL', key)
end
`;

/**
 * Reads the next new entry for a consumer without blocking (XREADGROUP in a script never
 * blocks) and activates it, in one round trip: the fast path of `take` when jobs are waiting.
 * KEYS: stream. ARGV: prefix, consumer. Returns {entry, fields} or false when none is waiting.
 */
const TAKE_NEW_FN = `${ACTIVATE_FN}
local function take_new(prefix, stream, consumer)
  for _ = 1, 20 do
    local reply = redis.call('XREADGROUP', 'GROUP', '${GROUP}', consumer, 'COUNT', 1, 'STREAMS', stream, '>')
    if not reply then return false end
    local message = reply[1][2][1]
    if not message then return false end
    local fields = message[2]
    local jobId
    for i = 1, #fields, 2 do if fields[i] == 'job' then jobId = fields[i + 1] end end
    if jobId then
      local job = activate(prefix, stream, message[1], jobId, consumer, false)
      if job then return {message[1], job} end
    else
      drop(stream, message[1])
    end
  end
  return false
end
`;

const TAKE_NEW = `${TAKE_NEW_FN}
return take_new(ARGV[1], KEYS[1], ARGV[2])
`;

/** KEYS: stream. ARGV: prefix, entry, jobId, consumer. Returns the job's fields or false. */
const ACTIVATE = `${ACTIVATE_FN}
return activate(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], false)
`;

/**
 * Takes over the oldest entry whose consumer has been silent for leaseMs (XAUTOCLAIM), in one
 * step with its activation so no second consumer can interleave.
 * KEYS: stream. ARGV: prefix, consumer, leaseMs. Returns {entry, fields} or false.
 */
const CLAIM_STALE = `${ACTIVATE_FN}
local cursor = '0-0'
for _ = 1, 20 do
  local reply = redis.call('XAUTOCLAIM', KEYS[1], '${GROUP}', ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = reply[1]
  for _, message in ipairs(reply[2]) do
    if message and message[2] then
      local fields = message[2]
      local jobId
      for i = 1, #fields, 2 do if fields[i] == 'job' then jobId = fields[i + 1] end end
      if jobId then
        local job = activate(ARGV[1], KEYS[1], message[1], jobId, ARGV[2], true)
        if job then return {message[1], job} end
      else
        drop(KEYS[1], message[1])
      end
    end
  end
  -- Entries deleted from the stream but still pending: acknowledge them away.
  for _, entry in ipairs(reply[3] or {}) do redis.call('XACK', KEYS[1], '${GROUP}', entry) end
  if cursor == '0-0' then return false end
end
return false
`;

/** Checks that `consumer` still holds delivery `deliveries` of the job through entry `entry`. */
const HOLDS_FN = `
local function holds(key, entry, deliveries)
  return redis.call('HGET', key, 'state') == 'active'
    and redis.call('HGET', key, 'entry') == entry
    and redis.call('HGET', key, 'deliveries') == deliveries
end
`;

/** KEYS: job, stream. ARGV: entry, deliveries, consumer. Returns 0 lost, 1 ok, 2 cancelled. */
const HEARTBEAT = `${HOLDS_FN}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
-- Claiming our own entry resets its idle time, which is what XAUTOCLAIM looks at.
redis.call('XCLAIM', KEYS[2], '${GROUP}', ARGV[3], 0, ARGV[1], 'JUSTID')
if redis.call('HGET', KEYS[1], 'cancel') == '1' then return 2 end
return 1
`;

/** KEYS: job, stream. ARGV: entry, deliveries, retentionMs. Returns 0 lost, 1 done. */
const COMPLETE = `${HOLDS_FN}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
redis.call('XACK', KEYS[2], '${GROUP}', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local state = 'completed'
if redis.call('HGET', KEYS[1], 'cancel') == '1' then state = 'cancelled' end
redis.call('HSET', KEYS[1], 'state', state)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/**
 * KEYS: job, stream, delayed, dead. ARGV: entry, deliveries, error, retry (0/1), maxAttempts,
 * delayMs, now, retentionMs, jobId. Returns {0} lost, {1, delayMs} retry, {2} dead.
 */
const FAIL = `${HOLDS_FN}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return {0} end
redis.call('XACK', KEYS[2], '${GROUP}', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'lastError', ARGV[3])
local cancelled = redis.call('HGET', KEYS[1], 'cancel') == '1'
if ARGV[4] == '1' and failures < tonumber(ARGV[5]) and not cancelled then
  redis.call('HSET', KEYS[1], 'state', 'delayed', 'entry', '')
  redis.call('ZADD', KEYS[3], tonumber(ARGV[7]) + tonumber(ARGV[6]), ARGV[9])
  return {1, tonumber(ARGV[6])}
end
redis.call('XADD', KEYS[4], '*', 'job', ARGV[9], 'data', redis.call('HGET', KEYS[1], 'data'),
  'error', ARGV[3], 'attempts', failures, 'at', ARGV[7])
redis.call('HSET', KEYS[1], 'state', 'dead')
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return {2}
`;

/** KEYS: job, stream. ARGV: entry, deliveries, jobId. Returns 0 lost, 1 handed back. */
const RELEASE = `${HOLDS_FN}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
redis.call('XACK', KEYS[2], '${GROUP}', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'waiting', 'entry', entry)
return 1
`;

/**
 * Moves retries whose backoff is over back into the stream.
 * KEYS: delayed, stream. ARGV: prefix, now. Returns ms until the next due retry, or -1.
 */
const PROMOTE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 100)
for _, jobId in ipairs(due) do
  redis.call('ZREM', KEYS[1], jobId)
  local key = ARGV[1] .. ':job:' .. jobId
  if redis.call('HGET', key, 'state') == 'delayed' then
    local entry = redis.call('XADD', KEYS[2], '*', 'job', jobId)
    redis.call('HSET', key, 'state', 'waiting', 'entry', entry)
  end
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then return -1 end
return math.max(0, tonumber(next[2]) - tonumber(ARGV[2]))
`;

/**
 * KEYS: job, stream, delayed. ARGV: jobId, channel, retentionMs.
 * Returns 0 unknown/final, 1 signalled (held by a worker), 2 removed (was waiting).
 */
const CANCEL = `
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'completed' or state == 'cancelled' or state == 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
if state == 'active' then
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[3], ARGV[1])
local entry = redis.call('HGET', KEYS[1], 'entry')
if entry and entry ~= '' then
  redis.call('XACK', KEYS[2], '${GROUP}', entry)
  redis.call('XDEL', KEYS[2], entry)
end
redis.call('HSET', KEYS[1], 'state', 'cancelled')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 2
`;

/**
 * COMPLETE, then hands the consumer its next waiting job in the same round trip (what BullMQ's
 * moveToFinished does with fetchNext). KEYS: job, stream. ARGV: entry, deliveries,
 * retentionMs, prefix, consumer. Returns {0} lost, {1} done, {1, entry, fields} done + next.
 */
const COMPLETE_NEXT = `${HOLDS_FN}${TAKE_NEW_FN}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return {0} end
redis.call('XACK', KEYS[2], '${GROUP}', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local state = 'completed'
if redis.call('HGET', KEYS[1], 'cancel') == '1' then state = 'cancelled' end
redis.call('HSET', KEYS[1], 'state', state)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local next = take_new(ARGV[4], KEYS[2], ARGV[5])
if next then return {1, next[1], next[2]} end
return {1}
`;

const SCRIPTS = {
  ADD,
  TAKE_NEW,
  ACTIVATE,
  CLAIM_STALE,
  HEARTBEAT,
  COMPLETE,
  COMPLETE_NEXT,
  FAIL,
  RELEASE,
  PROMOTE,
  CANCEL,
} as const;
type ScriptName = keyof typeof SCRIPTS;

/**
 * {@link JobQueue} on Redis Streams: XADD to enqueue, a consumer group read with XREADGROUP,
 * XACK when settled, heart-beats that reset the entry's idle time, XAUTOCLAIM takeover of
 * entries idle for `leaseMs`, a sorted set for backoff, a dead-letter stream, pub/sub for
 * cancels. Every state change is one Lua script, so concurrent workers cannot interleave.
 */
export class RedisJobQueue<T> implements JobQueue<T> {
  readonly prefix: string;
  private readonly options: Required<JobQueueOptions>;
  private readonly redis: RedisConnectionFactory;
  private readonly logger: RedisConnectionLogger | undefined;
  private client: RedisClient | undefined;
  private subscriber: RedisClient | undefined;
  private ready: Promise<void> | undefined;
  private readonly idleBlockingClients: RedisClient[] = [];
  private readonly busyBlockingClients = new Set<RedisClient>();
  private readonly shas = new Map<ScriptName, string>();
  /** Leases held in this process, by job id, for cancel signals. */
  private readonly leases = new Map<string, Set<RedisJobLease<T>>>();
  private closing: Promise<void> | undefined;
  /** When this process next promotes due retries and looks for silent consumers' jobs. */
  private maintenanceAt = 0;
  private readonly prefetch: boolean;
  /** Jobs handed to a consumer by COMPLETE_NEXT, waiting for its next `take`. */
  private readonly prefetched = new Map<
    string,
    { lease: RedisJobLease<T>; timer: NodeJS.Timeout }
  >();
  /** Takes in progress per consumer: one of them reads the next job, so no prefetch then. */
  private readonly pendingTakes = new Map<string, number>();

  constructor(options: RedisJobQueueOptions) {
    if (!options.redis) throw new TypeError('RedisJobQueue: redis is required');
    if (!options.prefix) throw new TypeError('RedisJobQueue: prefix is required');
    this.redis = options.redis;
    this.logger = options.logger;
    this.prefix = options.prefix;
    this.options = resolveJobQueueOptions(options);
    this.prefetch = options.prefetch ?? false;
  }

  private key(name: string): string {
    return `${this.prefix}:${name}`;
  }

  private jobKey(jobId: string): string {
    return this.key(`job:${jobId}`);
  }

  private get cancelChannel(): string {
    return this.key('cancel');
  }

  /** Connects, creates the consumer group and subscribes to cancels, once. */
  private connect(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('RedisJobQueue is closed'));
    this.ready ??= (async () => {
      const client = makeClient(this.redis, `job queue ${this.prefix}`);
      this.client = client;
      await client.connect();
      await this.createGroup();
      const subscriber = client.duplicate();
      watchRedisConnection(subscriber, `job queue ${this.prefix} cancels`, this.logger);
      this.subscriber = subscriber;
      await subscriber.connect();
      await subscriber.subscribe(this.cancelChannel, (jobId) => {
        for (const lease of this.leases.get(jobId) ?? []) lease.markCancelRequested();
      });
    })();
    return this.ready;
  }

  /** Creates the stream and its consumer group unless they exist. */
  private async createGroup(): Promise<void> {
    try {
      const stream = this.key('stream');
      await this.client!.sendCommand(['XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM']);
    } catch (error) {
      if (!String(error).includes('BUSYGROUP')) throw error;
    }
  }

  private async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    await this.connect();
    const client = this.client!;
    const argv = [String(keys.length), ...keys, ...args.map(String)];
    let sha = this.shas.get(name);
    if (!sha) {
      sha = String(await client.sendCommand(['SCRIPT', 'LOAD', SCRIPTS[name]]));
      this.shas.set(name, sha);
    }
    try {
      return await client.sendCommand(['EVALSHA', sha, ...argv]);
    } catch (error) {
      const message = String(error);
      // After SCRIPT FLUSH or a failover the cache is gone: load it again once.
      if (message.includes('NOSCRIPT')) {
        this.shas.delete(name);
        return this.run(name, keys, args);
      }
      // A Redis that restarted without its data lost the consumer group too: make it again.
      // (What the queue held is gone; the render reconciler queues unfinished renders again.)
      if (message.includes('NOGROUP')) {
        await this.createGroup();
        return await client.sendCommand(['EVALSHA', sha, ...argv]);
      }
      throw error;
    }
  }

  async add(data: T, options: AddJobOptions = {}): Promise<AddJobResult> {
    const jobId = options.jobId ?? randomUUID();
    const keys = [this.jobKey(jobId), this.key('stream')];
    if (options.idempotencyKey !== undefined) keys.push(this.key(`idem:${options.idempotencyKey}`));
    const reply = (await this.run('ADD', keys, [
      jobId,
      JSON.stringify(data),
      Date.now(),
      this.options.retentionMs,
    ])) as [string, number];
    return { jobId: reply[0], created: reply[1] === 1 };
  }

  async take(consumer: string, options: TakeOptions = {}): Promise<JobLease<T> | null> {
    const blockMs = options.blockMs ?? 1000;
    const deadline = Date.now() + blockMs;
    const ready = this.prefetched.get(consumer);
    if (ready) {
      this.prefetched.delete(consumer);
      clearTimeout(ready.timer);
      return ready.lease;
    }
    this.pendingTakes.set(consumer, (this.pendingTakes.get(consumer) ?? 0) + 1);
    try {
      return await this.takeFromRedis(consumer, options, deadline);
    } finally {
      const left = (this.pendingTakes.get(consumer) ?? 1) - 1;
      if (left > 0) this.pendingTakes.set(consumer, left);
      else this.pendingTakes.delete(consumer);
    }
  }

  private async takeFromRedis(
    consumer: string,
    options: TakeOptions,
    deadline: number,
  ): Promise<JobLease<T> | null> {
    await this.connect();
    while (!this.closing && !options.signal?.aborted) {
      // Due retries and silent consumers' jobs are looked for at most every `maintenanceMs`
      // (and when a retry falls due), not on every take: under load a take is one round trip.
      if (Date.now() >= this.maintenanceAt) {
        const stale = await this.maintain(consumer);
        if (stale) return stale;
      }
      const waiting = (await this.run('TAKE_NEW', [this.key('stream')], [this.prefix, consumer])) as
        | [string, string[]]
        | null;
      if (waiting) return this.lease(consumer, waiting[0], waiting[1]);

      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      const wait = Math.max(1, Math.min(remaining, this.maintenanceAt - Date.now()));
      const read = await this.readNew(consumer, wait, options.signal);
      if (!read) continue;
      const fields = (await this.run(
        'ACTIVATE',
        [this.key('stream')],
        [this.prefix, read.entry, read.jobId, consumer],
      )) as string[] | null;
      if (fields) return this.lease(consumer, read.entry, fields);
    }
    return null;
  }

  /**
   * Moves due retries into the stream and takes over the oldest job of a silent consumer, if
   * any; schedules the next run (a quarter lease, at most a second, or when a retry is due).
   */
  private async maintain(consumer: string): Promise<RedisJobLease<T> | null> {
    const now = Date.now();
    const untilDue = Number(
      await this.run('PROMOTE', [this.key('delayed'), this.key('stream')], [this.prefix, now]),
    );
    const checkEvery = Math.min(1000, Math.max(20, this.options.leaseMs / 4));
    this.maintenanceAt = now + (untilDue >= 0 ? Math.min(checkEvery, untilDue + 1) : checkEvery);
    const stale = (await this.run(
      'CLAIM_STALE',
      [this.key('stream')],
      [this.prefix, consumer, this.options.leaseMs],
    )) as [string, string[]] | null;
    return stale ? this.lease(consumer, stale[0], stale[1]) : null;
  }

  /** XREADGROUP on a connection of its own, since it blocks. */
  private async readNew(
    consumer: string,
    blockMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ entry: string; jobId: string } | null> {
    let client = this.idleBlockingClients.pop();
    if (!client) {
      client = this.client!.duplicate();
      watchRedisConnection(client, `job queue ${this.prefix} reader`, this.logger);
      await client.connect();
    }
    this.busyBlockingClients.add(client);
    const blocking = client;
    const onAbort = () => blocking.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = (await blocking.sendCommand([
        'XREADGROUP',
        'GROUP',
        GROUP,
        consumer,
        'COUNT',
        '1',
        'BLOCK',
        String(Math.ceil(blockMs)),
        'STREAMS',
        this.key('stream'),
        '>',
      ])) as [string, [string, string[]][]][] | null;
      const message = reply?.[0]?.[1]?.[0];
      if (!message) return null;
      const fields = message[1];
      const jobIndex = fields.indexOf('job');
      const jobId = jobIndex >= 0 ? fields[jobIndex + 1] : undefined;
      if (!jobId) return null;
      return { entry: message[0], jobId };
    } catch (error) {
      // A destroyed connection (close or abort) ends the wait; anything else is real.
      if (this.closing || signal?.aborted) return null;
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.busyBlockingClients.delete(blocking);
      if (blocking.isOpen && !this.closing) this.idleBlockingClients.push(blocking);
    }
  }

  private lease(consumer: string, entry: string, flat: string[]): RedisJobLease<T> {
    const fields = pairs(flat);
    const jobId = fields.get('jobId') ?? '';
    const lease = new RedisJobLease<T>(this, {
      jobId,
      entry,
      consumer,
      data: JSON.parse(fields.get('data') ?? 'null') as T,
      attempt: Number(fields.get('deliveries') ?? 1),
      failures: Number(fields.get('failures') ?? 0),
      lastError: fields.get('lastError') || undefined,
      cancelRequested: fields.get('cancel') === '1',
      maxAttempts: this.options.maxAttempts,
    });
    let held = this.leases.get(jobId);
    if (!held) {
      held = new Set();
      this.leases.set(jobId, held);
    }
    held.add(lease);
    return lease;
  }

  /** Keeps a prefetched lease for its consumer's next take; hands it back if none comes. */
  private stash(lease: RedisJobLease<T>): void {
    const timer = setTimeout(
      () => {
        if (this.prefetched.get(lease.consumer)?.lease !== lease) return;
        this.prefetched.delete(lease.consumer);
        lease.release().catch(() => {
          // Not handed back: it is taken over once its lease runs out.
        });
      },
      Math.max(10, this.options.leaseMs / 4),
    );
    timer.unref();
    this.prefetched.set(lease.consumer, { lease, timer });
  }

  /** @internal Called by leases when they settle. */
  forget(lease: RedisJobLease<T>): void {
    const held = this.leases.get(lease.jobId);
    held?.delete(lease);
    if (held?.size === 0) this.leases.delete(lease.jobId);
  }

  /** @internal */
  async leaseHeartbeat(lease: RedisJobLease<T>): Promise<HeartbeatResult> {
    const result = Number(
      await this.run(
        'HEARTBEAT',
        [this.jobKey(lease.jobId), this.key('stream')],
        [lease.entry, lease.attempt, lease.consumer],
      ),
    );
    return result === 0 ? 'lost' : result === 2 ? 'cancelled' : 'ok';
  }

  /** @internal */
  async leaseComplete(lease: RedisJobLease<T>): Promise<boolean> {
    const prefetch =
      this.prefetch &&
      !this.closing &&
      !this.prefetched.has(lease.consumer) &&
      !this.pendingTakes.has(lease.consumer);
    if (prefetch) {
      const reply = (await this.run(
        'COMPLETE_NEXT',
        [this.jobKey(lease.jobId), this.key('stream')],
        [lease.entry, lease.attempt, this.options.retentionMs, this.prefix, lease.consumer],
      )) as [number, string?, string[]?];
      if (reply[1] !== undefined && reply[2] !== undefined) {
        this.stash(this.lease(lease.consumer, reply[1], reply[2]));
      }
      return Number(reply[0]) === 1;
    }
    const result = await this.run(
      'COMPLETE',
      [this.jobKey(lease.jobId), this.key('stream')],
      [lease.entry, lease.attempt, this.options.retentionMs],
    );
    return Number(result) === 1;
  }

  /** @internal */
  async leaseFail(lease: RedisJobLease<T>, error: unknown, retry: boolean): Promise<FailResult> {
    const delayMs = backoffDelay(lease.failures + 1, this.options);
    const reply = (await this.run(
      'FAIL',
      [this.jobKey(lease.jobId), this.key('stream'), this.key('delayed'), this.key('dead')],
      [
        lease.entry,
        lease.attempt,
        errorMessage(error),
        retry ? 1 : 0,
        this.options.maxAttempts,
        delayMs,
        Date.now(),
        this.options.retentionMs,
        lease.jobId,
      ],
    )) as number[];
    if (reply[0] === 1) {
      this.maintenanceAt = Math.min(this.maintenanceAt, Date.now() + Number(reply[1]) + 1);
      return { outcome: 'retry', delayMs: Number(reply[1]) };
    }
    if (reply[0] === 2) return { outcome: 'dead' };
    return { outcome: 'lost' };
  }

  /** @internal */
  async leaseRelease(lease: RedisJobLease<T>): Promise<boolean> {
    const result = await this.run(
      'RELEASE',
      [this.jobKey(lease.jobId), this.key('stream')],
      [lease.entry, lease.attempt, lease.jobId],
    );
    return Number(result) === 1;
  }

  async cancel(jobId: string): Promise<CancelResult> {
    const result = Number(
      await this.run(
        'CANCEL',
        [this.jobKey(jobId), this.key('stream'), this.key('delayed')],
        [jobId, this.cancelChannel, this.options.retentionMs],
      ),
    );
    return result === 1 ? 'signalled' : result === 2 ? 'removed' : 'unknown';
  }

  async getJob(jobId: string): Promise<QueueJobInfo<T> | null> {
    await this.connect();
    const fields = pairs(
      (await this.client!.sendCommand(['HGETALL', this.jobKey(jobId)])) as string[],
    );
    if (!fields.has('state')) return null;
    const lastError = fields.get('lastError');
    return {
      jobId,
      data: JSON.parse(fields.get('data') ?? 'null') as T,
      state: fields.get('state') as QueueJobState,
      deliveries: Number(fields.get('deliveries') ?? 0),
      failures: Number(fields.get('failures') ?? 0),
      ...(lastError ? { lastError } : {}),
      cancelRequested: fields.get('cancel') === '1',
    };
  }

  async deadLetters(limit = 100): Promise<DeadLetter<T>[]> {
    await this.connect();
    const entries = (await this.client!.sendCommand([
      'XRANGE',
      this.key('dead'),
      '-',
      '+',
      'COUNT',
      String(limit),
    ])) as [string, string[]][];
    return entries.map(([, flat]) => {
      const fields = pairs(flat);
      return {
        jobId: fields.get('job') ?? '',
        data: JSON.parse(fields.get('data') ?? 'null') as T,
        error: fields.get('error') ?? '',
        attempts: Number(fields.get('attempts') ?? 0),
        deadAt: Number(fields.get('at') ?? 0),
      };
    });
  }

  /**
   * Four O(1) reads in one round trip: the stream holds waiting and delivered entries, the
   * group's pending summary the delivered ones (XPENDING), the zset the backoffs, the dead
   * stream the dead letters. Entries of cancelled or settled jobs are deleted from the stream,
   * so its length does not count them.
   */
  async stats(): Promise<JobQueueStats> {
    await this.connect();
    const [length, pending, delayed, dead] = (await this.client!.multi()
      .addCommand(['XLEN', this.key('stream')])
      .addCommand(['XPENDING', this.key('stream'), GROUP])
      .addCommand(['ZCARD', this.key('delayed')])
      .addCommand(['XLEN', this.key('dead')])
      .exec()) as unknown as [number, [number, ...unknown[]], number, number];
    const active = Number(pending[0]);
    return {
      waiting: Math.max(0, Number(length) - active),
      active,
      delayed: Number(delayed),
      dead: Number(dead),
    };
  }

  /**
   * Deletes every key of this queue (tests and teardown). Not for a queue other processes use.
   */
  async destroy(): Promise<void> {
    await this.connect();
    const client = this.client!;
    let cursor = '0';
    do {
      const [next, keys] = (await client.sendCommand([
        'SCAN',
        cursor,
        'MATCH',
        `${this.prefix}:*`,
        'COUNT',
        '500',
      ])) as [string, string[]];
      cursor = next;
      if (keys.length > 0) await client.sendCommand(['UNLINK', ...keys]);
    } while (cursor !== '0');
  }

  close(): Promise<void> {
    // Jobs prefetched for consumers that will not take again go back first, at once.
    const unclaimed = [...this.prefetched.values()];
    this.prefetched.clear();
    const handedBack = Promise.allSettled(
      unclaimed.map(({ lease, timer }) => {
        clearTimeout(timer);
        return lease.release();
      }),
    );
    this.closing ??= (async () => {
      await handedBack;
      // Not `await this.ready` first: during an outage the connect never resolves (the client
      // reconnects forever), and close would hang with it. Destroying the clients ends it.
      const clients = [
        this.client,
        this.subscriber,
        ...this.idleBlockingClients,
        ...this.busyBlockingClients,
      ];
      for (const client of clients) {
        if (client?.isOpen) client.destroy();
      }
      this.idleBlockingClients.length = 0;
      this.busyBlockingClients.clear();
      this.leases.clear();
      await this.ready?.catch(() => {});
    })();
    return this.closing;
  }
}

interface RedisLeaseInit<T> {
  jobId: string;
  entry: string;
  consumer: string;
  data: T;
  attempt: number;
  failures: number;
  lastError: string | undefined;
  cancelRequested: boolean;
  maxAttempts: number;
}

class RedisJobLease<T> implements JobLease<T> {
  readonly jobId: string;
  readonly entry: string;
  readonly consumer: string;
  readonly data: T;
  readonly attempt: number;
  readonly failures: number;
  readonly lastError: string | undefined;
  readonly exhausted: boolean;
  private readonly controller = new AbortController();
  private readonly maxAttempts: number;

  constructor(
    private readonly queue: RedisJobQueue<T>,
    init: RedisLeaseInit<T>,
  ) {
    this.maxAttempts = init.maxAttempts;
    this.jobId = init.jobId;
    this.entry = init.entry;
    this.consumer = init.consumer;
    this.data = init.data;
    this.attempt = init.attempt;
    this.failures = init.failures;
    this.lastError = init.lastError;
    this.exhausted = init.failures >= init.maxAttempts;
    if (init.cancelRequested) this.markCancelRequested();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  markCancelRequested(): void {
    if (!this.controller.signal.aborted) this.controller.abort('cancelled');
  }

  willRetry(retry = true): boolean {
    return retry && this.failures + 1 < this.maxAttempts && !this.signal.aborted;
  }

  async heartbeat(): Promise<HeartbeatResult> {
    const result = await this.queue.leaseHeartbeat(this);
    if (result === 'cancelled') this.markCancelRequested();
    if (result === 'lost') this.queue.forget(this);
    return result;
  }

  async complete(): Promise<boolean> {
    try {
      return await this.queue.leaseComplete(this);
    } finally {
      this.queue.forget(this);
    }
  }

  async fail(error: unknown, options: { retry?: boolean } = {}): Promise<FailResult> {
    try {
      return await this.queue.leaseFail(this, error, options.retry ?? true);
    } finally {
      this.queue.forget(this);
    }
  }

  async release(): Promise<boolean> {
    try {
      return await this.queue.leaseRelease(this);
    } finally {
      this.queue.forget(this);
    }
  }
}

function pairs(flat: string[] | null | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!flat) return map;
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), String(flat[i + 1]));
  return map;
}
