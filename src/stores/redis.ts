import { redactedCause, SessionStoreUnavailableError } from '../errors.js';
import { createWriteToken } from '../id.js';
import type { Cluster } from 'ioredis';
import { ioredisClient, type IORedisClient, type RedisClient } from '../redis-client.js';
import type { SharedRedisConnection } from '../redis-connections.js';
import { closingOwned, connectionFailure, StoreHealth, takeCharge, TIMED_OUT, type Destination } from './redis-health.js';
import {
  BIND_USER_SCRIPT,
  COMPARE_AND_SET_SCRIPT,
  DESTROY_SESSION_SCRIPT,
  HASH,
  INDEX_USER_SESSION_SCRIPT,
  MOVE_OUT_SCRIPT,
  MOVED_MARK,
  REVOKE_SESSION_SCRIPT,
  REVOKED_MARK,
  TOUCH_SCRIPT,
  TRIM_SESSION_SCRIPT,
  WRITE_SCRIPT,
} from './redis-scripts.js';
import {
  endedOnce,
  inBatches,
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
  USER_BATCH,
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
   * (a `TRPCError` `INTERNAL_SERVER_ERROR`), so a slow or unreachable Redis never hangs a request. A command is
   * sent only over a live connection (waiting for one this long), never left in ioredis's offline queue; a change
   * sent whose answer did not come in time fails saying its outcome is unknown: ioredis may still carry it out, once.
   * @default 1000
   */
  commandTimeout?: number;
}

/** The scripts as ioredis custom commands: ioredis sends EVALSHA and falls back to EVAL once per script. */
interface SessionCommands {
  trpcSessionTouch(key: string, now: number, ttlMs: number, expiresAt: number): Promise<number>;
  trpcSessionWrite(key: string, ...args: (string | number | Uint8Array)[]): Promise<number | [3, number]>;
  trpcSessionSwapBuffer(key: string, ...args: (string | number | Uint8Array)[]): Promise<unknown[]>;
  trpcSessionBindUser(key: string, userId: string, device: string, token: string): Promise<number>;
  trpcSessionMoveOutBuffer(key: string, mark: string, markMs: number, resendable: '0' | '1'): Promise<Buffer[] | null>;
  trpcSessionRevokeSession(key: string, userId: string, keep: string, followed: '0' | '1', markMs: number, token: string): Promise<[0 | 1] | [2, string]>;
  trpcSessionDestroy(key: string, followed: '0' | '1', markMs: number, token: string): Promise<[0 | 1] | [2, string]>;
  trpcSessionIndexUserSession(key: string, id: string, expiresAt: number, pruneBefore: number, graceMs: number): Promise<null>;
  trpcSessionTrimSession(key: string, userId: string, markMs: number, token: string): Promise<0 | 1 | 2>;
}

const { dataPrefix: DATA_PREFIX, createdAt: CREATED_AT, lastUsedAt: LAST_USED_AT, expiresAt: EXPIRES_AT, schemaVersion: SCHEMA_VERSION, user: USER, lifespan: LIFESPAN, device: DEVICE, tokens: TOKENS } = HASH;

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
    client.defineCommand('trpcSessionDestroy', { numberOfKeys: 1, lua: DESTROY_SESSION_SCRIPT });
    client.defineCommand('trpcSessionIndexUserSession', { numberOfKeys: 1, lua: INDEX_USER_SESSION_SCRIPT });
    client.defineCommand('trpcSessionTrimSession', { numberOfKeys: 1, lua: TRIM_SESSION_SCRIPT });
    withCommands.add(client);
  }
  return client as IORedisClient & SessionCommands;
}

/** A client's statuses while it opens a connection, which a command waits for whatever its offline queue. */
const FIRST_CONNECTION = new Set(['wait', 'connecting', 'connect']);

/** Whether the client keeps a command sent while it has no connection, to send it once it has one. */
const queuesOffline = (client: IORedisClient) => client.options.enableOfflineQueue !== false;

/**
 * Resolves to whether the client is connected by `deadline`, opening a client made with `lazyConnect`; a command
 * sent now would otherwise wait in the client's offline queue, and could be carried out after its call failed.
 */
function connectedBy(client: IORedisClient, deadline: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  const left = deadline - Date.now();
  if (left <= 0 || client.status === 'end') return Promise.resolve(false);
  if (client.status === 'wait') client.connect().catch(() => undefined);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, left);
    client.once('ready', onReady);
  });
}

/**
 * Whether a command that failed with `error` may have been carried out: lost with its connection (ioredis also
 * rejects the commands in flight when it gives up on them, `maxRetriesPerRequest`), rather than refused before
 * it was written to one.
 */
const mayHaveReachedRedis = (error: unknown) =>
  connectionFailure(error) !== undefined && !(error instanceof Error && error.message.startsWith("Stream isn't writeable"));

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
const METADATA_FIELDS = new Set<string>([CREATED_AT, LAST_USED_AT, EXPIRES_AT, SCHEMA_VERSION, USER, LIFESPAN, DEVICE, TOKENS]);

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
      else if (name === USER) record.userId = value.toString();
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
   *
   * A command is sent only over a connection that is up: while the client has none, and would queue it (ioredis's
   * offline queue), it waits for one, up to `commandTimeout`, and is never sent if none comes, so a call reported
   * as failed never lands later. A `change` sent on a connection lost before its answer arrived is sent again once
   * the client reconnects, within `commandTimeout` (ioredis does it itself unless `autoResendUnfulfilledCommands`
   * is off): its token makes the second run answer as the first did. A change with no answer by then is reported
   * with its outcome unknown. `'change once'`: a change whose second run would answer otherwise, never sent again here.
   */
  const run = <T>(send: (redis: IORedisClient & SessionCommands) => Promise<T>, kind: 'read' | 'change' | 'change once' = 'read'): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<T>;
    let destination: Destination | undefined;
    /** Whether the command may have reached Redis: sent over a live connection, or lost with one. */
    let reached = false;
    const deadline = Date.now() + commandTimeout;
    const sendNoting = (redis: IORedisClient & SessionCommands): Promise<T> => {
      if (redis.status !== 'ready' && (queuesOffline(redis) || FIRST_CONNECTION.has(redis.status))) {
        destination ??= health.destination(redis);
        return connectedBy(redis, deadline).then((connected) => (connected ? sendNoting(redis) : Promise.reject(TIMED_OUT)));
      }
      if (redis.status === 'ready') reached = true;
      const answer = send(health.sender(redis));
      destination = health.destination(redis);
      return answer.catch(async (error: unknown) => {
        if (!mayHaveReachedRedis(error)) throw error;
        reached = true;
        if (kind === 'change once' || Date.now() >= deadline || !(await connectedBy(redis, deadline))) throw error;
        return sendNoting(redis);
      });
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
        const unknownOutcome = reached && kind !== 'read' ? 'the change may have been applied (outcome unknown)' : undefined;
        const unavailable = destination === undefined ? undefined : health.unavailable(destination, error, commandTimeout, unknownOutcome);
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
    await run((redis) => redis.del(key(id)), 'change once');
    return { status: 'corrupt', reason: `${reason}; the record was removed` };
  };
  /**
   * A key at a session's name that is not one of this store's records (the prefix is shared with other data):
   * never deleted nor changed, and read as no session. The reason says nothing of what the key holds.
   */
  const foreign: LoadResult = { status: 'corrupt', reason: 'the key is not a session record (is the prefix shared with other data?); it was left alone' };

  /** Adds or pushes back a session's entry in its user's index; done before the session names the user. */
  const index = (id: string, userId: string, expiresAt: number) =>
    run((redis) => redis.trpcSessionIndexUserSession(userKey(userId), id, Math.ceil(expiresAt), Date.now() - INDEX_GRACE_MS, INDEX_GRACE_MS), 'change');

  /** `id` and the IDs its moves led to, as their marks say now: one GET per hop (WRONGTYPE: a record, not moved). */
  const movedTo = async (id: string): Promise<Set<string>> => {
    const ids = new Set([id]);
    for (let at = id, hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
      const current = at;
      const mark = await run((redis) => redis.get(key(current)).catch((error: unknown) => (isWrongType(error) ? null : Promise.reject(error))));
      if (!mark?.startsWith(`${MOVED_MARK}:`)) break;
      // The new ID ends where the copy of the record taken starts (MOVE_OUT_SCRIPT).
      at = mark.slice(MOVED_MARK.length + 1).split('\n', 1)[0]!;
      ids.add(at);
    }
    return ids;
  };

  /** Drops the entries of the user's index that expired before `pruneBefore`, in one command. */
  const prune = (userId: string, pruneBefore: number) => run((redis) => redis.zremrangebyscore(userKey(userId), '-inf', `(${pruneBefore}`), 'change');

  /**
   * See SessionStore.revokeSessions. The index is read a page at a time (ZSCAN, which returns every entry
   * there from start to end at least once, whatever is added or removed meanwhile), and each page's sessions
   * are revoked before the next page is read.
   */
  const revokeSessions = async (userId: string, which: (id: string) => boolean, keep: string | null): Promise<string[]> => {
    /**
     * Ends the session at `id`, following its moves (one script per hop: each ID is in its own slot); resolves
     * to the ID where it was ended, or null. Adds each ID it went through to `visited`.
     */
    const revoke = async (id: string, visited: string[]): Promise<string | null> => {
      // The revoked marks this call leaves name it, so a hop sent again answers as its first run (REVOKED_BY).
      const token = createWriteToken();
      let at = id;
      for (let hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
        const current = at;
        visited.push(current);
        const reply = await run((redis) => redis.trpcSessionRevokeSession(key(current), userId, keep ?? '', hop === 0 ? '0' : '1', MOVED_MARK_MS, token), 'change');
        if (reply[0] !== 2) return reply[0] === 1 ? current : null;
        at = reply[1];
      }
      return null;
    };
    await prune(userId, Date.now() - INDEX_GRACE_MS);
    const ended: string[] = [];
    const endedAt = new Set<string>();
    let cursor = '0';
    do {
      const [next, page] = await run((redis) => redis.zscan(userKey(userId), cursor, 'COUNT', USER_BATCH));
      cursor = next;
      // Read after the page: a new ID the kept session moved to is in the index only once its mark names it.
      const kept = keep === null ? new Set<string>() : await movedTo(keep);
      // Members and scores, alternately. ZSCAN may return an entry twice: its session, ended already, is not again.
      const selected = page.filter((id, at) => at % 2 === 0 && !kept.has(id) && which(id));
      const visited: string[] = [];
      ended.push(...endedOnce(selected, await inBatches(selected, (id) => revoke(id, visited)), endedAt));
      // Only the entries read and followed: a session bound meanwhile keeps its entry, so a later revoke still finds it.
      if (visited.length > 0) await run((redis) => redis.zrem(userKey(userId), ...visited), 'change');
    } while (cursor !== '0');
    return ended;
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
        if (value?.startsWith(REVOKED_MARK)) return { status: 'missing' };
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
      const touched = await run((redis) => orGone(redis.trpcSessionTouch(key(id), touch.now, touch.ttlMs, expiresAt), 0), 'change');
      if (touched === 0) return 'gone';
      // The user's index must not forget a session before the session itself expires.
      if (touch.userId !== null) await index(id, touch.userId, expiresAt);
      return 'ok';
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      const expect = change.create ? undefined : change.expect;
      const args: (string | number | Uint8Array)[] = [change.create ? 'c' : expect ? 'e' : 'u', change.ttlMs, change.maxSize, change.remove.length, change.set.size];
      for (const field of change.remove) args.push(DATA_PREFIX + field);
      if (expect !== undefined) {
        args.push(expect.schemaVersion, expect.fields.size);
        for (const [field, bytes] of expect.fields) args.push(DATA_PREFIX + field, asBuffer(bytes));
      }
      for (const [field, bytes] of change.set) args.push(DATA_PREFIX + field, asBuffer(bytes));
      // An update's last pair: the script compares the record's version with it.
      args.push(LAST_USED_AT, change.now, SCHEMA_VERSION, change.schemaVersion);
      if (change.create) args.push(CREATED_AT, change.createdAt, EXPIRES_AT, change.now + change.ttlMs);
      if (change.create && change.lifespan !== null) args.push(LIFESPAN, change.lifespan);
      if (change.create && change.userId !== null) {
        args.push(USER, change.userId);
        if (change.device !== undefined) args.push(DEVICE, change.device);
        await index(id, change.userId, change.now + change.ttlMs);
      }
      args.push(change.token);
      const reply = await run((redis) => orGone(redis.trpcSessionWrite(key(id), ...args), 0), 'change');
      if (Array.isArray(reply)) return { status: 'too large', size: Number(reply[1]) };
      return reply === 1 ? 'ok' : reply === 2 ? 'exists' : reply === 4 ? 'stale' : reply === 5 ? 'newer' : 'gone';
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
            swap.token,
            swap.schemaVersion ?? '',
          ),
          [0],
        ),
        'change',
      );
      if (reply[0] === 1) return { status: 'ok' };
      if (reply[0] === 5) return { status: 'newer' };
      if (reply[0] === 0) return { status: 'gone' };
      if (reply[0] === 3) return { status: 'too large', size: Number(reply[1]) };
      return { status: 'conflict', current: (reply[1] as Buffer | null | undefined) ?? null };
    },

    async moveOut(id: string, now: number, to?: string): Promise<MoveOutResult> {
      const mark = to === undefined ? MOVED_MARK : `${MOVED_MARK}:${to}`;
      const reply = await run((redis) => redis.trpcSessionMoveOutBuffer(key(id), mark, MOVED_MARK_MS, to === undefined ? '0' : '1'), to === undefined ? 'change once' : 'change');
      if (reply === null) return { status: 'gone' };
      const hash: SessionHash = {};
      for (let at = 0; at < reply.length; at += 2) hash[reply[at]!.toString()] = reply[at + 1]!;
      const record = parseRecord(hash);
      if (record === null || record === 'foreign' || record.expiresAt <= now) return { status: 'gone' };
      return { status: 'found', record };
    },

    async destroy(id: string): Promise<boolean> {
      // Follows the moves another request made since this one read the record, one script per hop (see SessionStore.destroy).
      // The revoked marks this call leaves name it, so a hop sent again answers as its first run (REVOKED_BY).
      const token = createWriteToken();
      let at = id;
      for (let hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
        const current = at;
        const reply = await run((redis) => redis.trpcSessionDestroy(key(current), hop === 0 ? '0' : '1', MOVED_MARK_MS, token), 'change');
        if (reply[0] !== 2) return reply[0] === 1;
        at = reply[1];
      }
      return false;
    },

    async bindUser(id: string, userId: string, expiresAt: number, device?: string): Promise<'ok' | 'gone'> {
      await index(id, userId, expiresAt);
      // Recorded with the binding, so a bind sent again never undoes a later one (BIND_USER_SCRIPT).
      const token = createWriteToken();
      return (await run((redis) => orGone(redis.trpcSessionBindUser(key(id), userId, device ?? '', token), 0), 'change')) === 1 ? 'ok' : 'gone';
    },

    async unbindUser(id: string, userId: string): Promise<void> {
      await run((redis) => redis.zrem(userKey(userId), id), 'change');
    },

    async userSessions(userId: string, now: number, limit: number): Promise<UserRecordSummary[]> {
      await prune(userId, now - INDEX_GRACE_MS);
      const live: UserRecordSummary[] = [];
      // Where the next page starts in the index, from the entry that expires last: past the records and marks
      // read so far (the dead entries read are removed before it).
      let offset = 0;
      while (live.length < limit) {
        const wanted = Math.min(USER_BATCH, limit - live.length);
        const ids = await run((redis) => redis.zrevrange(userKey(userId), offset, offset + wanted - 1));
        // One command per session: their hashes are in other slots, so they cannot share a Cluster pipeline.
        const fields = await inBatches(ids, (id) =>
          // WRONGTYPE: a moved (or revoked) mark, whose entry stays until the mark expires.
          run((redis) => redis.hmget(key(id), CREATED_AT, LAST_USED_AT, USER, DEVICE).catch((error: unknown) => (isWrongType(error) ? 'mark' : Promise.reject(error)))),
        );
        const dead: string[] = [];
        ids.forEach((id, position) => {
          const found = fields[position]!;
          if (found === 'mark') return void offset++;
          const [createdAt, lastUsedAt, boundTo, device] = found;
          if (createdAt === null || boundTo !== userId) return void dead.push(id);
          offset++;
          live.push({ id, createdAt: Number(createdAt), lastUsedAt: Number(lastUsedAt), ...(device === null || device === undefined ? {} : { device }) });
        });
        if (dead.length > 0) await run((redis) => redis.zrem(userKey(userId), ...dead), 'change');
        if (ids.length < wanted) break;
      }
      return live;
    },

    async trimUserSessions(userId: string, max: number, keep: string, now: number): Promise<string[]> {
      const count = await run((redis) => redis.zcount(userKey(userId), now, '+inf'));
      if (count <= max) return [];
      const over = Math.min(count - max, USER_BATCH);
      // The entries that expire first, but keep's.
      const oldest = await run((redis) => redis.zrangebyscore(userKey(userId), now, '+inf', 'LIMIT', 0, over + 1));
      const candidates = oldest.filter((id) => id !== keep).slice(0, over);
      // The revoked marks this call leaves name it, so a step sent again answers as its first run (REVOKED_BY).
      const token = createWriteToken();
      const replies = await inBatches(candidates, (id) => run((redis) => redis.trpcSessionTrimSession(key(id), userId, MOVED_MARK_MS, token), 'change'));
      // A mark's entry stays while the mark lasts, for the revokes to follow.
      const removed = candidates.filter((_, position) => replies[position] !== 2);
      if (removed.length > 0) await run((redis) => redis.zrem(userKey(userId), ...removed), 'change');
      return candidates.filter((_, position) => replies[position] === 1);
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

    async ping() {
      await run<unknown>((redis) => (redis.isCluster ? Promise.all((redis as Cluster).nodes('master').map((node) => node.ping())) : redis.ping()));
    },

    reportTo(report) {
      health.reportTo(report);
    },

    async close(): Promise<void> {
      health.unfollow();
      if (owned && client !== undefined) {
        const closing = client;
        client = undefined;
        closingOwned(closing);
        await closing.quit().catch(() => closing.disconnect());
      }
    },
  };
}
