import type { Cluster, Redis } from 'ioredis';
import { SessionStoreUnavailableError } from '../errors.js';
import type { SharedRedisConnection } from '../redis-connections.js';
import { COMPARE_AND_SET_SCRIPT, LOAD_SCRIPT, WRITE_SCRIPT } from './redis-scripts.js';
import type {
  CompareAndSetResult,
  ExpiryPolicy,
  FieldSwap,
  LoadResult,
  RecordWrite,
  SessionStore,
  StoredRecord,
  WriteResult,
} from './store.js';

/** An ioredis client: a single `Redis` connection or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * The ioredis client (`Redis` or `Cluster`), a function that returns one, or a named connection of a
   * registry (`connections.use('sessions')`). A function or a named connection is opened on the first session
   * access, not before. The client a function returns is closed by `close()`; a client passed directly
   * belongs to the caller and a named connection to its registry, so neither is ever closed here.
   */
  redis: RedisClient | (() => RedisClient) | SharedRedisConnection;
  /**
   * Prepended to the session ID to make the Redis key. Each session is one hash at `prefix + id`.
   * @default 'session:'
   */
  prefix?: string;
  /**
   * Milliseconds a session command may take before the call fails with `SessionStoreUnavailableError`
   * (a `TRPCError` `INTERNAL_SERVER_ERROR`), so a slow or unreachable Redis never hangs a request. A command
   * that timed out may still be carried out later by ioredis; it is never reported as done.
   * @default 1000
   */
  commandTimeout?: number;
}

/** The scripts as ioredis custom commands: ioredis sends EVALSHA and falls back to EVAL once per script. */
interface SessionCommands {
  trpcSessionLoadBuffer(key: string, now: number, idleMs: number, absoluteMs: number, touchAfterMs: number): Promise<unknown[]>;
  trpcSessionWrite(key: string, ...args: (string | number | Uint8Array)[]): Promise<number>;
  trpcSessionSwapBuffer(key: string, ...args: (string | number | Uint8Array)[]): Promise<unknown[]>;
}

const DATA_PREFIX = 'd:';
const CREATED_AT = 'm:c';
const LAST_USED_AT = 'm:u';
const SCHEMA_VERSION = 'm:v';

const withCommands = new WeakSet<object>();

/** ioredis sends a `Buffer` as bytes but would stringify any other `Uint8Array`. */
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function defineCommands(client: RedisClient): RedisClient & SessionCommands {
  if (!withCommands.has(client)) {
    client.defineCommand('trpcSessionLoad', { numberOfKeys: 1, lua: LOAD_SCRIPT });
    client.defineCommand('trpcSessionWrite', { numberOfKeys: 1, lua: WRITE_SCRIPT });
    client.defineCommand('trpcSessionSwap', { numberOfKeys: 1, lua: COMPARE_AND_SET_SCRIPT });
    withCommands.add(client);
  }
  return client as RedisClient & SessionCommands;
}

function parseRecord(reply: unknown[]): StoredRecord {
  const [, ttlMs, refreshed, flat] = reply as [number, number, number, Buffer[]];
  const record: StoredRecord = { fields: new Map(), createdAt: 0, lastUsedAt: 0, schemaVersion: 0, ttlMs, refreshed: refreshed === 1 };
  for (let index = 0; index < flat.length; index += 2) {
    const name = flat[index]!.toString();
    const value = flat[index + 1]!;
    if (name.startsWith(DATA_PREFIX)) record.fields.set(name.slice(DATA_PREFIX.length), value);
    else if (name === CREATED_AT) record.createdAt = Number(value.toString());
    else if (name === LAST_USED_AT) record.lastUsedAt = Number(value.toString());
    else if (name === SCHEMA_VERSION) record.schemaVersion = Number(value.toString());
  }
  return record;
}

/**
 * The Redis store. Each session is one hash (so it lives in one Cluster slot); every operation is one Lua
 * script, one round trip: a read refreshes the TTL in the same script, a write sends only the changed
 * fields and refuses to recreate a record that another request removed.
 */
export function redisStore(options: RedisStoreOptions): SessionStore {
  const prefix = options.prefix ?? 'session:';
  const commandTimeout = options.commandTimeout ?? 1000;
  if (!(commandTimeout > 0)) throw new TypeError('trpc-session: commandTimeout must be a positive number of milliseconds');
  const owned = typeof options.redis === 'function';
  let client: (RedisClient & SessionCommands) | undefined;
  let sharing: Promise<RedisClient & SessionCommands> | undefined;

  /** The client, or while a named connection is still being opened, the promise of it. */
  const connection = (): (RedisClient & SessionCommands) | Promise<RedisClient & SessionCommands> => {
    if (client !== undefined) return client;
    const given = options.redis;
    if (typeof given === 'function') return (client = defineCommands(given()));
    if ('defineCommand' in given) return (client = defineCommands(given));
    sharing ??= given.client().then(
      (shared) => (client = defineCommands(shared)),
      (error: unknown) => {
        sharing = undefined;
        throw error;
      },
    );
    return sharing;
  };

  /**
   * Sends a command now (before any `await`, so it is queued in call order; only the first commands over a
   * named connection wait for it to open, in call order too) and bounds its wait, the opening included.
   */
  const run = <T>(send: (redis: RedisClient & SessionCommands) => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<T>;
    try {
      const ready = connection();
      pending = ready instanceof Promise ? ready.then(send) : send(ready);
    } catch (error) {
      return Promise.reject(new SessionStoreUnavailableError((error as Error).message, error));
    }
    const timeout = new Promise<never>((_, reject) => {
      const giveUp = () => reject(new SessionStoreUnavailableError(`no answer within ${commandTimeout} ms`));
      // Timers run before I/O in an event-loop turn: after a stall of this process, let a reply that has
      // already arrived be read first, so only Redis's silence counts as a timeout.
      timer = setTimeout(() => setImmediate(giveUp), commandTimeout);
    });
    return Promise.race([pending, timeout]).then(
      (value) => {
        clearTimeout(timer);
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (error instanceof SessionStoreUnavailableError) throw error;
        throw new SessionStoreUnavailableError((error as Error).message, error);
      },
    );
  };

  const key = (id: string) => prefix + id;

  return {
    async load(id: string, policy: ExpiryPolicy, now: number): Promise<LoadResult> {
      const reply = await run((redis) =>
        redis.trpcSessionLoadBuffer(key(id), now, policy.idleMs, policy.absoluteMs ?? 0, policy.touchAfterMs),
      );
      switch (reply[0]) {
        case 1: {
          const record = parseRecord(reply);
          // The script read the hash before it stamped the refresh.
          if (record.refreshed) record.lastUsedAt = now;
          return { status: 'found', record };
        }
        case 2:
          return { status: 'corrupt', reason: String(reply[1]) };
        default:
          return { status: 'missing' };
      }
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      const args: (string | number | Uint8Array)[] = [change.create ? 'c' : 'u', change.ttlMs, change.remove.length];
      for (const field of change.remove) args.push(DATA_PREFIX + field);
      for (const [field, bytes] of change.set) args.push(DATA_PREFIX + field, asBuffer(bytes));
      args.push(LAST_USED_AT, change.now, SCHEMA_VERSION, change.schemaVersion);
      if (change.create) args.push(CREATED_AT, change.createdAt);
      const reply = await run((redis) => redis.trpcSessionWrite(key(id), ...args));
      return reply === 1 ? 'ok' : reply === 2 ? 'exists' : 'gone';
    },

    async compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult> {
      const reply = await run((redis) =>
        redis.trpcSessionSwapBuffer(
          key(id),
          DATA_PREFIX + swap.field,
          swap.expected === null ? '0' : '1',
          swap.expected === null ? '' : asBuffer(swap.expected),
          asBuffer(swap.next),
          swap.now,
        ),
      );
      if (reply[0] === 1) return { status: 'ok' };
      if (reply[0] === 0) return { status: 'gone' };
      return { status: 'conflict', current: (reply[1] as Buffer | null | undefined) ?? null };
    },

    async destroy(id: string): Promise<void> {
      await run((redis) => redis.del(key(id)));
    },

    async close(): Promise<void> {
      if (owned && client !== undefined) {
        const closing = client;
        client = undefined;
        await closing.quit().catch(() => closing.disconnect());
      }
    },
  };
}
