import { redactedCause, SessionStoreUnavailableError } from '../errors.js';
import { ioredisClient, type IORedisClient, type RedisClient } from '../redis-client.js';
import type { SharedRedisConnection } from '../redis-connections.js';
import { StoreHealth, takeCharge, TIMED_OUT, type Destination } from './redis-health.js';
import {
  BIND_USER_SCRIPT,
  COMPARE_AND_SET_SCRIPT,
  HASH,
  INDEX_USER_SESSION_SCRIPT,
  LIST_USER_SESSIONS_SCRIPT,
  MOVE_OUT_SCRIPT,
  MOVED_MARK,
  REVOKE_SESSION_SCRIPT,
  REVOKED_MARK,
  TOUCH_SCRIPT,
  WRITE_SCRIPT,
} from './redis-scripts.js';
import {
  endedOnce,
  MAX_REVOKE_HOPS,
  MOVED_MARK_MS,
  type MoveOutResult,
  type CompareAndSetResult,
  type FieldSwap,
  type LoadResult,
  type RecordLifespan,
  type RecordTouch,
  type RecordWrite,
  type SessionStore,
  type StoredRecord,
  type UserRecordSummary,
  type WriteResult,
} from './store.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * The ioredis client (`Redis` or `Cluster`), a function that returns one, or a named connection of a
   * registry (`connections.use('sessions')`). A function or a named connection is opened on the first session
   * access, not before. The client a function returns is closed by `close()`; a client passed directly
   * belongs to the caller and a named connection to its registry, so neither is ever closed here.
   *
   * The library takes charge of the connection errors of a client it owns (a function's, a registry's), so
   * ioredis never prints them as unhandled. A client passed directly keeps the listeners you gave it (give it an
   * `error` listener). Either way each outage is reported to `onError` once, and its end once.
   */
  redis: RedisClient | (() => RedisClient) | SharedRedisConnection;
  /**
   * Prepended to the session ID to make the Redis key. Each session is one hash at `prefix + id`; the
   * sessions bound to a user are indexed in a sorted set at `prefix + 'user:{' + userId + '}'`. Must not
   * be empty (a `TypeError` at start-up): keys without it would share their names with the rest of the database.
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
  trpcSessionTouch(key: string, now: number, ttlMs: number, expiresAt: number): Promise<number>;
  trpcSessionWrite(key: string, ...args: (string | number | Uint8Array)[]): Promise<number | [3, number]>;
  trpcSessionSwapBuffer(key: string, ...args: (string | number | Uint8Array)[]): Promise<unknown[]>;
  trpcSessionBindUser(key: string, userId: string, device: string): Promise<number>;
  trpcSessionMoveOutBuffer(key: string, mark: string, markMs: number): Promise<Buffer[] | null>;
  trpcSessionRevokeSession(key: string, userId: string, keep: string, followed: '0' | '1', markMs: number): Promise<[0 | 1] | [2, string]>;
  trpcSessionIndexUserSession(key: string, id: string, expiresAt: number, pruneBefore: number, graceMs: number): Promise<null>;
  trpcSessionListUserSessions(key: string, pruneBefore: number): Promise<string[]>;
}

const { dataPrefix: DATA_PREFIX, createdAt: CREATED_AT, lastUsedAt: LAST_USED_AT, expiresAt: EXPIRES_AT, schemaVersion: SCHEMA_VERSION, user: USER, lifespan: LIFESPAN, device: DEVICE } = HASH;

/**
 * How long past its expiry a user index keeps an entry, and itself past its last entry. Index scores come
 * from the app servers' clocks; the margin keeps a clock difference between them from dropping the entry of a
 * live session, which a revoke would then miss. Listing checks every remaining entry against its session.
 */
const INDEX_GRACE_MS = 60_000;

const withCommands = new WeakSet<object>();

/** ioredis sends a `Buffer` as bytes but would stringify any other `Uint8Array`. */
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function defineCommands(client: IORedisClient): IORedisClient & SessionCommands {
  if (!withCommands.has(client)) {
    client.defineCommand('trpcSessionTouch', { numberOfKeys: 1, lua: TOUCH_SCRIPT });
    client.defineCommand('trpcSessionWrite', { numberOfKeys: 1, lua: WRITE_SCRIPT });
    client.defineCommand('trpcSessionSwap', { numberOfKeys: 1, lua: COMPARE_AND_SET_SCRIPT });
    client.defineCommand('trpcSessionBindUser', { numberOfKeys: 1, lua: BIND_USER_SCRIPT });
    client.defineCommand('trpcSessionMoveOut', { numberOfKeys: 1, lua: MOVE_OUT_SCRIPT });
    client.defineCommand('trpcSessionRevokeSession', { numberOfKeys: 1, lua: REVOKE_SESSION_SCRIPT });
    client.defineCommand('trpcSessionIndexUserSession', { numberOfKeys: 1, lua: INDEX_USER_SESSION_SCRIPT });
    client.defineCommand('trpcSessionListUserSessions', { numberOfKeys: 1, lua: LIST_USER_SESSIONS_SCRIPT });
    withCommands.add(client);
  }
  return client as IORedisClient & SessionCommands;
}

/** A session's hash as HGETALL returns it, field names to bytes; empty when there is no such key. */
type SessionHash = Record<string, Buffer>;

/** What `hgetallBuffer` resolves to when the key holds something other than a hash. */
const NOT_A_HASH: unique symbol = Symbol('not a hash');

/** Redis's error for a hash command on another type: on a session key, the moved mark (or a foreign key). */
const isWrongType = (error: unknown) => error instanceof Error && error.message.includes('WRONGTYPE');

/** Resolves a session write's reply, reading WRONGTYPE (the key is the moved mark) as `gone`. */
const orGone = <T>(sent: Promise<T>, gone: T): Promise<T> =>
  sent.catch((error: unknown) => {
    if (isWrongType(error)) return gone;
    throw error;
  });

/** A number stored in the hash by this store, or NaN when absent or garbled. */
const storedNumber = (bytes: Buffer | undefined) => (bytes === undefined ? Number.NaN : Number(bytes.toString()));

/** A stored lifespan; an unreadable one reads as none (the manager's lifespan), never as a longer one. */
function storedLifespan(bytes: Buffer): RecordLifespan {
  const text = bytes.toString();
  if (text === 'browser') return 'browser';
  const ms = Number(text);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

/** The names of the metadata fields this store writes in records. */
const METADATA_FIELDS = new Set<string>([CREATED_AT, LAST_USED_AT, EXPIRES_AT, SCHEMA_VERSION, USER, LIFESPAN, DEVICE]);

/**
 * The record in a session's hash, its expiry NaN when the hash has none; null for an empty hash, which is how HGETALL reads a key that does not exist (or has expired); `'foreign'` for a
 * hash that is not recognisably one of this store's records: one with a field of another name, or without
 * any of the metadata fields every record is created with.
 */
function parseRecord(hash: SessionHash): StoredRecord | null | 'foreign' {
  const record: StoredRecord = { fields: new Map(), createdAt: Number.NaN, lastUsedAt: 0, schemaVersion: 0, userId: null, expiresAt: Number.NaN, lifespan: null };
  let empty = true;
  let metadata = false;
  for (const name in hash) {
    empty = false;
    const value = hash[name]!;
    if (name.startsWith(DATA_PREFIX)) record.fields.set(name.slice(DATA_PREFIX.length), value);
    else if (!METADATA_FIELDS.has(name)) return 'foreign';
    else {
      metadata = true;
      if (name === CREATED_AT) record.createdAt = storedNumber(value);
      else if (name === LAST_USED_AT) record.lastUsedAt = storedNumber(value);
      else if (name === EXPIRES_AT) record.expiresAt = storedNumber(value);
      else if (name === SCHEMA_VERSION) record.schemaVersion = storedNumber(value);
      else if (name === LIFESPAN) record.lifespan = storedLifespan(value);
      else if (name === DEVICE) record.device = value.toString();
      else record.userId = value.toString();
    }
  }
  if (empty) return null;
  return metadata ? record : 'foreign';
}

/**
 * The Redis store. Each session is one hash (so it lives in one Cluster slot) and every operation is one
 * round trip. A read is a plain HGETALL, the cheapest command that returns the whole hash; a touch (the core
 * sends one when the expiry is due for a refresh, at most once per `touchAfter`) is a second command. Writes are Lua
 * scripts: a write sends only the changed fields and refuses to recreate a record that another request
 * removed. A session bound to a user costs one more round trip, to its user's index, when it is created or
 * bound and when it is touched.
 */
export function redisStore(options: RedisStoreOptions): SessionStore {
  const prefix = options.prefix ?? 'session:';
  // An empty prefix would make every key in the database a possible session: a cookie could name any of them.
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError('trpc-session: redisStore `prefix` must be a non-empty string, such as "session:"');
  const commandTimeout = options.commandTimeout ?? 1000;
  // Past 2^31 - 1 ms, setTimeout fires at once: every command would time out.
  if (!(commandTimeout > 0 && commandTimeout <= 2 ** 31 - 1)) {
    throw new TypeError('trpc-session: redisStore `commandTimeout` must be a positive number of milliseconds, at most 2147483647');
  }
  const owned = typeof options.redis === 'function';
  let client: (IORedisClient & SessionCommands) | undefined;
  let sharing: Promise<IORedisClient & SessionCommands> | undefined;
  const health = new StoreHealth();
  const following = (given: RedisClient): IORedisClient & SessionCommands => {
    const opened = ioredisClient(given);
    health.follow(opened);
    return defineCommands(opened);
  };

  /** The client, or while a named connection is still being opened, the promise of it. */
  const connection = (): (IORedisClient & SessionCommands) | Promise<IORedisClient & SessionCommands> => {
    if (client !== undefined) return client;
    const given = options.redis;
    if (typeof given === 'function') {
      const made = given();
      takeCharge(ioredisClient(made));
      return (client = following(made));
    }
    if ('defineCommand' in given) return (client = following(given));
    sharing ??= given.client().then(
      (shared) => (client = following(shared)),
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
  const run = <T>(send: (redis: IORedisClient & SessionCommands) => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<T>;
    let destination: Destination | undefined;
    const sendNoting = (redis: IORedisClient & SessionCommands) => {
      const sent = send(health.sender(redis));
      destination = health.destination(redis);
      return sent;
    };
    try {
      const ready = connection();
      pending = ready instanceof Promise ? ready.then(sendNoting) : sendNoting(ready);
    } catch (error) {
      const cause = redactedCause(error);
      return Promise.reject(new SessionStoreUnavailableError(cause.message, cause));
    }
    const timeout = new Promise<never>((_, reject) => {
      const giveUp = () => reject(TIMED_OUT);
      // Timers run before I/O in an event-loop turn: after a stall of this process, let a reply that has
      // already arrived be read first, so only Redis's silence counts as a timeout.
      timer = setTimeout(() => setImmediate(giveUp), commandTimeout);
    });
    return Promise.race([pending, timeout]).then(
      (value) => {
        clearTimeout(timer);
        if (destination !== undefined) health.answered(destination);
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (error instanceof SessionStoreUnavailableError) throw error;
        // Unreachable Redis: the error says why and where, and the outage is reported once.
        const unavailable = destination === undefined ? undefined : health.unavailable(destination, error, commandTimeout);
        if (unavailable !== undefined) throw unavailable;
        if (error === TIMED_OUT) throw new SessionStoreUnavailableError(`no answer within ${commandTimeout} ms`);
        // Never ioredis's error itself: its `command.args` hold the key (the session ID) and the values written.
        const cause = redactedCause(error);
        throw new SessionStoreUnavailableError(cause.message, cause);
      },
    );
  };

  const key = (id: string) => prefix + id;
  // The hash tag puts every command on a user's index in one Cluster slot, whatever the user ID.
  const userKey = (userId: string) => `${prefix}user:{${userId}}`;

  /** Removes a record of this store's that cannot be read, so that its ID is never used again. */
  const removeCorrupt = async (id: string, reason: string): Promise<LoadResult> => {
    await run((redis) => redis.del(key(id)));
    return { status: 'corrupt', reason: `${reason}; the record was removed` };
  };
  /**
   * A key at a session's name that is not one of this store's records (the prefix is shared with other data):
   * never deleted nor changed, and read as no session. The reason says nothing of what the key holds.
   */
  const foreign: LoadResult = { status: 'corrupt', reason: 'the key is not a session record (is the prefix shared with other data?); it was left alone' };

  /** Adds or pushes back a session's entry in its user's index; done before the session names the user. */
  const index = (id: string, userId: string, expiresAt: number) =>
    run((redis) => redis.trpcSessionIndexUserSession(userKey(userId), id, Math.ceil(expiresAt), Date.now() - INDEX_GRACE_MS, INDEX_GRACE_MS));

  /** See SessionStore.revokeSessions. */
  const revokeSessions = async (userId: string, which: (id: string) => boolean, keep: string | null): Promise<string[]> => {
    const listed = await run((redis) => redis.trpcSessionListUserSessions(userKey(userId), Date.now() - INDEX_GRACE_MS));
    const ids = listed.filter((id) => id !== keep && which(id));
    const visited: string[] = [];
    /**
     * Ends the session at `id`, following its moves (one script per hop: each ID is in its own slot); resolves
     * to the ID where it was ended, or null.
     */
    const revoke = async (id: string): Promise<string | null> => {
      let at = id;
      for (let hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
        const current = at;
        visited.push(current);
        const reply = await run((redis) => redis.trpcSessionRevokeSession(key(current), userId, keep ?? '', hop === 0 ? '0' : '1', MOVED_MARK_MS));
        if (reply[0] !== 2) return reply[0] === 1 ? current : null;
        at = reply[1];
      }
      return null;
    };
    const ended = await Promise.all(ids.map(revoke));
    // Only the entries read and followed: a session bound meanwhile keeps its entry, so a later revoke still finds it.
    if (visited.length > 0) await run((redis) => redis.zrem(userKey(userId), ...visited));
    return endedOnce(ids, ended);
  };

  return {
    async load(id: string, now: number): Promise<LoadResult> {
      const hash = await run((redis) =>
        redis.hgetallBuffer(key(id)).catch((error: unknown): typeof NOT_A_HASH => {
          if (isWrongType(error)) return NOT_A_HASH;
          throw error;
        }),
      );
      if (hash === NOT_A_HASH) {
        // One more command only for a key that is not a hash: the moved mark, or a key that is not a record.
        const value = await run((redis) => redis.get(key(id)).catch((error: unknown) => (isWrongType(error) ? null : Promise.reject(error))));
        if (value === REVOKED_MARK) return { status: 'missing' };
        return value?.startsWith(MOVED_MARK) ? { status: 'moved' } : foreign;
      }
      const record = parseRecord(hash);
      if (record === null) return { status: 'missing' };
      if (record === 'foreign') return foreign;
      if (!(record.createdAt > 0)) return removeCorrupt(id, 'no creation time');
      // The hash's own expiry, on this server's clock: past it, Redis is about to drop the key.
      if (record.expiresAt <= now) return { status: 'missing' };
      return { status: 'found', record };
    },

    async touch(id: string, touch: RecordTouch): Promise<'ok' | 'gone'> {
      const expiresAt = touch.now + touch.ttlMs;
      const touched = await run((redis) => orGone(redis.trpcSessionTouch(key(id), touch.now, touch.ttlMs, expiresAt), 0));
      if (touched === 0) return 'gone';
      // The user's index must not forget a session before the session itself expires.
      if (touch.userId !== null) await index(id, touch.userId, expiresAt);
      return 'ok';
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      const expect = change.create ? undefined : change.expect;
      const args: (string | number | Uint8Array)[] = [change.create ? 'c' : expect ? 'e' : 'u', change.ttlMs, change.maxSize, change.remove.length];
      for (const field of change.remove) args.push(DATA_PREFIX + field);
      if (expect !== undefined) {
        args.push(expect.schemaVersion, expect.fields.size);
        for (const [field, bytes] of expect.fields) args.push(DATA_PREFIX + field, asBuffer(bytes));
      }
      for (const [field, bytes] of change.set) args.push(DATA_PREFIX + field, asBuffer(bytes));
      args.push(LAST_USED_AT, change.now, SCHEMA_VERSION, change.schemaVersion);
      if (change.create) args.push(CREATED_AT, change.createdAt, EXPIRES_AT, change.now + change.ttlMs);
      if (change.create && change.lifespan !== null) args.push(LIFESPAN, change.lifespan);
      if (change.create && change.userId !== null) {
        args.push(USER, change.userId);
        if (change.device !== undefined) args.push(DEVICE, change.device);
        await index(id, change.userId, change.now + change.ttlMs);
      }
      const reply = await run((redis) => orGone(redis.trpcSessionWrite(key(id), ...args), 0));
      if (Array.isArray(reply)) return { status: 'too large', size: Number(reply[1]) };
      return reply === 1 ? 'ok' : reply === 2 ? 'exists' : reply === 4 ? 'stale' : 'gone';
    },

    async compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult> {
      const reply = await run((redis) =>
        orGone(
          redis.trpcSessionSwapBuffer(
            key(id),
            DATA_PREFIX + swap.field,
            swap.expected === null ? '0' : '1',
            swap.expected === null ? '' : asBuffer(swap.expected),
            swap.next === null ? '' : asBuffer(swap.next),
            swap.now,
            swap.maxSize,
            swap.next === null ? '1' : '0',
          ),
          [0],
        ),
      );
      if (reply[0] === 1) return { status: 'ok' };
      if (reply[0] === 0) return { status: 'gone' };
      if (reply[0] === 3) return { status: 'too large', size: Number(reply[1]) };
      return { status: 'conflict', current: (reply[1] as Buffer | null | undefined) ?? null };
    },

    async moveOut(id: string, now: number, to?: string): Promise<MoveOutResult> {
      const mark = to === undefined ? MOVED_MARK : `${MOVED_MARK}:${to}`;
      const reply = await run((redis) => redis.trpcSessionMoveOutBuffer(key(id), mark, MOVED_MARK_MS));
      if (reply === null) return { status: 'gone' };
      const hash: SessionHash = {};
      for (let at = 0; at < reply.length; at += 2) hash[reply[at]!.toString()] = reply[at + 1]!;
      const record = parseRecord(hash);
      if (record === null || record === 'foreign' || record.expiresAt <= now) return { status: 'gone' };
      return { status: 'found', record };
    },

    async destroy(id: string): Promise<boolean> {
      return (await run((redis) => redis.del(key(id)))) > 0;
    },

    async bindUser(id: string, userId: string, expiresAt: number, device?: string): Promise<'ok' | 'gone'> {
      await index(id, userId, expiresAt);
      return (await run((redis) => orGone(redis.trpcSessionBindUser(key(id), userId, device ?? ''), 0))) === 1 ? 'ok' : 'gone';
    },

    async unbindUser(id: string, userId: string): Promise<void> {
      await run((redis) => redis.zrem(userKey(userId), id));
    },

    async userSessions(userId: string, now: number): Promise<UserRecordSummary[]> {
      const ids = await run((redis) => redis.trpcSessionListUserSessions(userKey(userId), now - INDEX_GRACE_MS));
      // One command per session: their hashes are in other slots, so they cannot share a Cluster pipeline.
      const fields = await Promise.all(
        ids.map((id) =>
          // WRONGTYPE: a moved (or revoked) mark, whose entry stays until the mark expires.
          run((redis) => redis.hmget(key(id), CREATED_AT, LAST_USED_AT, USER, DEVICE).catch((error: unknown) => (isWrongType(error) ? 'mark' : Promise.reject(error)))),
        ),
      );
      const live: UserRecordSummary[] = [];
      const dead: string[] = [];
      ids.forEach((id, position) => {
        const found = fields[position]!;
        if (found === 'mark') return;
        const [createdAt, lastUsedAt, boundTo, device] = found;
        if (createdAt === null || boundTo !== userId) dead.push(id);
        else live.push({ id, createdAt: Number(createdAt), lastUsedAt: Number(lastUsedAt), ...(device === null || device === undefined ? {} : { device }) });
      });
      if (dead.length > 0) await run((redis) => redis.zrem(userKey(userId), ...dead));
      return live;
    },

    revokeSessions,

    async available() {
      // A client not created or opened yet (a function's, a registry's) is unknown: the first command will tell.
      const given = client;
      const unreachable = given === undefined ? null : health.knownUnreachable();
      if (given === undefined || unreachable === null) return null;
      // Reconnecting: a command would wait in ioredis's queue for the connection; wait as long as one may.
      const ready = await new Promise<boolean>((resolve) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          given.off('ready', onReady);
          resolve(false);
        }, commandTimeout);
        given.once('ready', onReady);
      });
      return ready ? null : unreachable;
    },

    reportTo(report) {
      health.reportTo(report);
    },

    async close(): Promise<void> {
      health.unfollow();
      if (owned && client !== undefined) {
        const closing = client;
        client = undefined;
        await closing.quit().catch(() => closing.disconnect());
      }
    },
  };
}
