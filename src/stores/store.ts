import type { SessionError, SessionStoreUnavailableError } from '../errors.js';

/**
 * The contract between the session core and a storage backend. A store keeps, per session ID, a record of
 * encoded data fields plus metadata, with an expiry. It never sees the schema or the codec: values are bytes.
 * A method on one record is one round trip to the backend, plus one to the user's index where a record bound
 * to a user needs it; the methods on a user's sessions take one per session.
 */
export interface SessionStore {
  /** Reads a record and refreshes its expiry when `policy` says it is due (Redis: one more round trip then). */
  load(id: string, policy: ExpiryPolicy, now: number): Promise<LoadResult>;
  /**
   * Applies field changes atomically. With `create` the record must not exist yet (else `'exists'`);
   * without it the record must still exist (else `'gone'`), so a late write never revives a destroyed
   * session. Only a create sets the expiry: writes happen after the response, where no cookie can follow a
   * longer expiry, so extending it is left to `load`. Refused (`'too large'`, nothing written) when the
   * record's data would exceed `maxSize` and grow: see `exceedsMaxSize`.
   */
  write(id: string, change: RecordWrite): Promise<WriteResult>;
  /**
   * Sets one field only if it still holds `expected` (`null`: absent), leaving the expiry alone, under the same
   * size rule as `write`; with `next: null`, removes it. Used by `data.update`, and to take a flash value.
   */
  compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult>;
  /**
   * Takes the record out for its move to a new ID (`regenerate()`), in one atomic step on the record: returns
   * it as it is now and leaves in its place, for `MOVED_MARK_MS` (10 seconds), a mark that refuses every later write,
   * compare-and-set and bind on the ID (`'gone'`), and that `load` reads as `'moved'`. So a write acknowledged
   * on the ID before the move is in the record returned, and one after it is refused: none is acknowledged and
   * then lost. `'gone'` when there is no record (removed, expired, or already moved).
   */
  moveOut(id: string, now: number): Promise<MoveOutResult>;
  /** Removes the record. Removing a missing record is not an error. */
  destroy(id: string): Promise<void>;
  /**
   * Binds an existing record to a user: first adds it to the user's index, as live until at least
   * `expiresAt`, then records the user in it, so a record that names a user is always in that user's index.
   * `'gone'` when the record no longer exists.
   */
  bindUser(id: string, userId: string, expiresAt: number): Promise<'ok' | 'gone'>;
  /** Takes a record out of a user's index, leaving the record alone. Unbinding an unbound record is not an error. */
  unbindUser(id: string, userId: string): Promise<void>;
  /**
   * The live records bound to the user. Index entries whose record has expired, was removed or is now bound
   * to someone else are dropped from the index on the way.
   */
  userSessions(userId: string, now: number): Promise<UserRecordSummary[]>;
  /**
   * Removes every record bound to the user and resolves to how many there were. `revoked`, if given, is called
   * with the ID of each record removed (for the `revoked` event).
   */
  revokeUser(userId: string, revoked?: (id: string) => void): Promise<number>;
  /**
   * Optional: resolves to the error a write would fail with when the store already knows, without sending
   * anything, that its backend is unreachable (Redis: the client lost its connection and does not get it back
   * within `commandTimeout`, or was closed); null otherwise. Checked before a new session is promised to a client.
   */
  available?(): Promise<SessionStoreUnavailableError | null>;
  /** Releases what the store opened itself (a connection it created); never what it was given. */
  close(): Promise<void>;
  /**
   * Optional: gives the store a manager's `onError`, for what the store notices outside any one call (Redis
   * going away and coming back). `createSessionManager` calls it once; a store shared by several managers
   * reports to each.
   */
  reportTo?(report: (error: SessionError) => void): void;
}

/** How long records live. Times are milliseconds. */
export interface ExpiryPolicy {
  /** Idle timeout: a record unused this long expires. */
  idleMs: number;
  /** Absolute timeout from creation, whatever the activity; `null` for none. */
  absoluteMs: number | null;
  /** A load refreshes the expiry only when doing so would extend it by at least this much. */
  touchAfterMs: number;
}

export interface StoredRecord {
  /**
   * Encoded fields by name, as written: a new map for each load, which the session then owns. The core keeps
   * flash values here too, under names that start with `flash:`, which no schema field may take.
   */
  fields: Map<string, Uint8Array>;
  createdAt: number;
  lastUsedAt: number;
  schemaVersion: number;
  /** The user the record is bound to, if any. */
  userId: string | null;
  /** Milliseconds the record has left, after any refresh this load made (`moveOut`: NaN when the store cannot tell). */
  ttlMs: number;
  /** Whether this load refreshed the expiry. */
  refreshed: boolean;
}

export type LoadResult =
  | { status: 'found'; record: StoredRecord }
  | { status: 'missing' }
  /**
   * The record was there but its lifetime is over (`endedBy` says which): the store has removed it. A store that
   * cannot tell (its backend dropped the record at its expiry) answers `'missing'`.
   */
  | { status: 'expired'; reason: 'idle' | 'absolute'; userId: string | null }
  /** The record was moved to a new ID (`moveOut`) moments ago: the client's cookie is older than its response. */
  | { status: 'moved' }
  /**
   * Unreadable. A record of this store's (corrupt metadata) has been removed; a key the store does not
   * recognise as one of its records is left alone, never deleted. `reason` says which, and never quotes the
   * key's content.
   */
  | { status: 'corrupt'; reason: string };

export interface RecordWrite {
  create: boolean;
  now: number;
  /** The expiry of a new record; used on creation only. */
  ttlMs: number;
  /** Written on creation only. */
  createdAt: number;
  /**
   * The user a new record is bound to (creation only): the store adds it to the user's index before creating
   * it, as `bindUser` does.
   */
  userId: string | null;
  schemaVersion: number;
  set: ReadonlyMap<string, Uint8Array>;
  remove: readonly string[];
  /** The most bytes of data (the sum of the fields' encoded values) the record may hold; see `exceedsMaxSize`. */
  maxSize: number;
}

/** A record bound to a user, as `userSessions` lists it. */
export interface UserRecordSummary {
  id: string;
  createdAt: number;
  lastUsedAt: number;
}

/** A write refused by the size rule; `size` is what the record's data would have been. */
export interface TooLarge {
  status: 'too large';
  size: number;
}

export type WriteResult = 'ok' | 'gone' | 'exists' | TooLarge;

/**
 * The size rule, the same in every store and checked in the same atomic step as the write: a write is refused
 * when the record's data (the sum of its fields' encoded values) would be over `maxSize` and larger than it is
 * now. So concurrent writes can never take a record past the limit, and a record already over it (a smaller
 * `maxSize` since it was written) may still shrink or stay the same: deletes and smaller values pass.
 */
export function exceedsMaxSize(sizeBefore: number, sizeAfter: number, maxSize: number): boolean {
  return sizeAfter > maxSize && sizeAfter > sizeBefore;
}

export type MoveOutResult = { status: 'found'; record: StoredRecord } | { status: 'gone' };

/**
 * How long a moved record's mark lasts: long enough for the requests in flight with the old cookie when the
 * move happened to be told (`load` reads `'moved'`), short enough that a client that never got the new cookie
 * soon starts afresh.
 */
export const MOVED_MARK_MS = 10_000;

export interface FieldSwap {
  field: string;
  expected: Uint8Array | null;
  /** The field's new bytes; `null` removes it. */
  next: Uint8Array | null;
  now: number;
  maxSize: number;
}

export type CompareAndSetResult =
  | { status: 'ok' }
  | { status: 'conflict'; current: Uint8Array | null }
  | { status: 'gone' }
  | TooLarge;

/**
 * The milliseconds a record of the given age may still live: the idle timeout, capped by what remains of
 * the absolute lifetime (zero or less: expired).
 */
export function remainingLifetime(policy: Pick<ExpiryPolicy, 'idleMs' | 'absoluteMs'>, createdAt: number, now: number): number {
  if (policy.absoluteMs === null) return policy.idleMs;
  return Math.min(policy.idleMs, createdAt + policy.absoluteMs - now);
}

/**
 * What a load makes of a record's expiry, the same in every store: `'ended'` once its lifetime is over (the
 * store removes it); otherwise the milliseconds it has left by `expiresAt`, and the lifetime to refresh it to
 * when a refresh is due (it would extend the expiry by `touchAfterMs` or more, or `expiresAt` is unknown: NaN).
 */
export function expiryAtLoad(policy: ExpiryPolicy, createdAt: number, expiresAt: number, now: number): 'ended' | { ttlMs: number; refreshTo: number | null } {
  const remaining = remainingLifetime(policy, createdAt, now);
  if (remaining <= 0) return 'ended';
  const ttlMs = expiresAt - now;
  return { ttlMs, refreshTo: Number.isNaN(ttlMs) || remaining - ttlMs >= policy.touchAfterMs ? remaining : null };
}

/** Which timeout ended a record whose lifetime is over at `now`: the absolute one once it has passed, else idle. */
export function endedBy(policy: Pick<ExpiryPolicy, 'absoluteMs'>, createdAt: number, now: number): 'idle' | 'absolute' {
  return policy.absoluteMs !== null && createdAt + policy.absoluteMs <= now ? 'absolute' : 'idle';
}

/** The methods every {@link SessionStore} has. */
const STORE_METHODS = ['load', 'write', 'compareAndSet', 'moveOut', 'destroy', 'bindUser', 'unbindUser', 'userSessions', 'revokeUser', 'close'] as const;

/**
 * Throws a `TypeError` naming `store` unless `value` is a session store, so a missing store, or a Redis client
 * given where its store belongs, fails at start-up rather than at the first request.
 */
export function assertSessionStore(value: unknown): asserts value is SessionStore {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError('trpc-session: `store` is required: redisStore({ redis }) or memoryStore()');
  }
  if ('defineCommand' in value || 'sendCommand' in value) {
    throw new TypeError('trpc-session: `store` is a Redis client, not a session store: pass redisStore({ redis: client })');
  }
  const missing = STORE_METHODS.filter((method) => typeof (value as Record<string, unknown>)[method] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(`trpc-session: \`store\` is not a session store (it lacks ${missing.join(', ')}): use redisStore({ redis }) or memoryStore()`);
  }
}
