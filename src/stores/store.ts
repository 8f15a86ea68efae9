import type { SessionError, SessionStoreUnavailableError } from '../errors.js';

/**
 * The contract between the session core and a storage backend. A store keeps, per session ID, a record of
 * encoded data fields plus metadata, with an expiry. It never sees the schema or the codec: values are bytes.
 * A method on one record is one round trip to the backend, plus one to the user's index where a record bound
 * to a user needs it; the methods on a user's sessions take one per session, in batches of at most 100
 * (the built-in stores' bound), so that a user with very many sessions never floods the backend or stalls the
 * process.
 */
export interface SessionStore {
  /**
   * Reads a record as it is, with its expiry; it changes nothing (the expiry policy is the session core's: it
   * asks for a `touch` when one is due, or a `destroy` when the record's lifetime is over). A record whose
   * expiry is past `now` is `'missing'`.
   */
  load(id: string, now: number): Promise<LoadResult>;
  /**
   * Pushes back a record's expiry to `ttlMs` from `now` and stamps its last use, never recreating a record that
   * is gone (`'gone'`). Never sets an earlier expiry than the record has (the core asks for a touch only when it
   * would extend the expiry): a touch that finds it as late changes nothing and answers `'ok'`, so a touch sent
   * again after a lost reply never undoes a later touch or write. A record bound to `userId` keeps its entry in
   * the user's index live until at least its new expiry (one more round trip where the index is kept apart).
   */
  touch(id: string, touch: RecordTouch): Promise<'ok' | 'gone'>;
  /**
   * Applies field changes atomically. With `create` the record must not exist yet (else `'exists'`);
   * without it the record must still exist (else `'gone'`), so a late write never revives a destroyed
   * session. Only a create sets the expiry: writes happen after the response, where no cookie can follow a
   * longer expiry, so extending it is left to `touch`. Refused (`'too large'`, nothing written) when the
   * record's data would exceed `maxSize` and grow: see `exceedsMaxSize`. With `expect` (an update only), applied
   * only if the record is still exactly as expected, in the same atomic step; otherwise `'stale'`, nothing written.
   * Refused (`'newer'`, nothing written) when the record was written by a higher `schemaVersion` than the write's.
   * Idempotent under a resend: a write whose `token` the record already holds changed it already, and answers
   * `'ok'` again without changing anything (see {@link RecordWrite.token}).
   */
  write(id: string, change: RecordWrite): Promise<WriteResult>;
  /**
   * Sets one field only if it still holds `expected` (`null`: absent), leaving the expiry alone, under the same
   * size rule as `write`; with `next: null`, removes it. Used by `data.update`, and to take a flash value.
   * Idempotent under a resend, as `write` is: a swap whose `token` the record holds answers `'ok'` again.
   * Refused (`'newer'`) when `schemaVersion` is given and the record was written by a higher one.
   */
  compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult>;
  /**
   * Takes the record out for its move to a new ID (`regenerate()`), in one atomic step on the record: returns
   * it as it is now and leaves in its place, for `MOVED_MARK_MS` (10 seconds), a mark that refuses every later write,
   * compare-and-set, touch and bind on the ID (`'gone'`), and that `load` reads as `'moved'`. A move is idempotent
   * under a resend: `to` is unique to one move, and a second `moveOut` to the same `to` while the mark lasts
   * answers the record the first took out, changing nothing. So a write acknowledged
   * on the ID before the move is in the record returned, and one after it is refused: none is acknowledged and
   * then lost. `'gone'` when there is no record (removed, expired, or already moved). The mark names `to`,
   * the ID the record is being moved to, so that `revokeSessions` can follow it there. A create over the
   * mark (a failed move putting its record back) replaces it; a create over a revoked mark is `'gone'`.
   */
  moveOut(id: string, now: number, to?: string): Promise<MoveOutResult>;
  /**
   * Ends the session at `id`. A record there is removed (the Redis store leaves in its place, for
   * `MOVED_MARK_MS`, a revoked mark naming the call, which `load` reads as `'missing'`). A moved mark there
   * (another request's `moveOut`, after this one read the record) is followed as `revokeSessions` follows it: it
   * becomes the revoked mark, and at the ID it names the record is removed if it was created, or else a revoked
   * mark is left for `MOVED_MARK_MS`, so the move's create is refused (`'gone'`): no record derived from a
   * destroyed session lives on. A revoked mark is left as it is. Resolves to whether this call ended the
   * session: removing a missing record is not an error, and `false` tells the core that something else (a revoke,
   * an expiry, a concurrent request) ended it first, so its end is told once. Idempotent under a resend: a step of the call that the backend's client sends again
   * (the removal, or one hop of a move followed) answers as its first run, so the call still goes on to the new
   * ID, and answers `true` where it ended the session; a later call finds the session ended and answers `false`.
   */
  destroy(id: string): Promise<boolean>;
  /**
   * Binds an existing record to a user: first adds it to the user's index, as live until at least
   * `expiresAt`, then records the user in it, so a record that names a user is always in that user's index.
   * `'gone'` when the record no longer exists. Stores `device` (the core's encoding of what identifies the
   * device) in the record, or removes the one it had when `device` is not given. Idempotent under a resend:
   * a bind that the backend's client sends again after a lost reply answers `'ok'` without changing the record,
   * so it never undoes another request's bind made since (the Redis store records a token of the call in the
   * record, as a write's).
   */
  bindUser(id: string, userId: string, expiresAt: number, device?: string): Promise<'ok' | 'gone'>;
  /** Takes a record out of a user's index, leaving the record alone. Unbinding an unbound record is not an error. */
  unbindUser(id: string, userId: string): Promise<void>;
  /**
   * The live records bound to the user: at most `limit`, those whose index entry expires last (the most
   * recently used, for records of one lifespan). Index entries whose record has expired, was removed or is now
   * bound to someone else are dropped from the index on the way; the entry of a record just moved to a new ID
   * stays, unlisted, while its moved mark lasts, so that `revokeSessions` can still follow it.
   */
  userSessions(userId: string, now: number, limit: number): Promise<UserRecordSummary[]>;
  /**
   * Keeps the user to `max` live records: ends those over it whose index entry expires first (the least
   * recently used, for records of one lifespan), never `keep` (the record just bound), and at most a batch
   * (100, in the built-in stores) in one call, so a user far over `max` comes down over several logins. The old
   * ID of a record just moved is not a record of its own: it is left alone. Resolves to the IDs of the records
   * ended (each told as revoked). Idempotent under a resend, as `destroy` is: a removal sent again answers as its
   * first run, so an ended record is in the answer. Called by the core after each `bindUser` to a new user.
   */
  trimUserSessions(userId: string, max: number, keep: string, now: number): Promise<string[]>;
  /**
   * Ends the user's sessions whose index entry `which` selects, except `keep` (the caller's own). Race-safe
   * against their moves: a selected ID that has just been moved
   * (`moveOut`) is followed to the ID its mark names; there the record is removed if it was created, and
   * otherwise a revoked mark is left for `MOVED_MARK_MS`, so the move's create is refused (`'gone'`). Both the
   * old ID's moved mark and the new ID then hold the revoked mark, which no create or move gets past and
   * `load` reads as `'missing'`. `keep` is the caller's session wherever it is now: the IDs its moved marks lead
   * to, read after the index (a move of it that another request made meanwhile), are kept too, and a move to
   * `keep` is not followed; each step (a removal, a hop) is idempotent under a resend, as `destroy`'s are.
   * Resolves to the selected IDs (as the index had them) whose session was ended. The index is read and revoked
   * in batches.
   */
  revokeSessions(userId: string, which: (id: string) => boolean, keep: string | null): Promise<string[]>;
  /**
   * Optional: resolves to the error a write would fail with when the store already knows, without sending
   * anything, that its backend is unreachable (Redis: the client lost its connection and does not get it back
   * within `commandTimeout`, or was closed); null otherwise. Checked before a new session is promised to a client.
   */
  available?(): Promise<SessionStoreUnavailableError | null>;
  /**
   * Optional: resolves once every server the store's data lives on has answered (Redis: `PING`, to each master
   * of a Cluster); rejects (a `SessionStoreUnavailableError`) when one fails. Reads and writes nothing. For
   * `sessions.health()`, which bounds its wait; a store without it is asked with a `load` of an ID no session has.
   */
  ping?(): Promise<void>;
  /** Releases what the store opened itself (a connection it created); never what it was given. */
  close(): Promise<void>;
  /**
   * Optional: gives the store a manager's `onError`, for what the store notices outside any one call (Redis
   * going away and coming back). `createSessionManager` calls it once; a store shared by several managers
   * reports to each.
   */
  reportTo?(report: (error: SessionError) => void): void;
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
  /** When the record expires, as last set by a create or a touch (ms); NaN when the store cannot tell. */
  expiresAt: number;
  /** The record's own lifespan, as created (see {@link RecordLifespan}). */
  lifespan: RecordLifespan;
  /** What identifies the device, as the core encoded it for `bindUser`; absent when none was given. */
  device?: string;
}

/**
 * A record's own idle lifespan, chosen at login ("remember me"), which the core applies: milliseconds,
 * `'browser'` (a cookie without `Max-Age`, the manager's lifespan on the server), or `null` for the manager's.
 * Stored as it is given; a store keeps it through `touch` and returns it from `load` and `moveOut`.
 */
export type RecordLifespan = number | 'browser' | null;

/** A `touch`: the record's new expiry, and the user whose index must keep it that long. */
export interface RecordTouch {
  now: number;
  /** The record expires this many milliseconds after `now`. */
  ttlMs: number;
  /** The user the record is bound to as loaded, or null. */
  userId: string | null;
}

export type LoadResult =
  | { status: 'found'; record: StoredRecord }
  | { status: 'missing' }
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
  /** The record's own lifespan; written on creation only. */
  lifespan: RecordLifespan;
  /** The device metadata of a new record bound to a user (creation only), as `bindUser` takes it. */
  device?: string;
  schemaVersion: number;
  set: ReadonlyMap<string, Uint8Array>;
  remove: readonly string[];
  /** The most bytes of data (the sum of the fields' encoded values) the record may hold; see `exceedsMaxSize`. */
  maxSize: number;
  /**
   * Unique to this call (the core draws a new one for each): the store records it in the record in the same
   * atomic step as the change, and keeps the last few. A backend client may send a command again after a
   * connection was cut before its reply arrived (ioredis's `autoResendUnfulfilledCommands`); the token lets the
   * second run answer what the first did instead of applying the change twice (or, for a create, answering
   * `'exists'`).
   */
  token: string;
  /**
   * Optional, on an update: the record as the writer read it. The write applies only if the record still has
   * this schema version and exactly these data fields (no more, no fewer, the same bytes); else `'stale'`. A
   * request that migrated a record written by an older schema version writes the migration's result with it,
   * so it never lands on a record that changed since it was read.
   */
  expect?: RecordExpectation;
}

/** What a conditional write expects the record to be (see `RecordWrite.expect`). */
export interface RecordExpectation {
  schemaVersion: number;
  fields: ReadonlyMap<string, Uint8Array>;
}

/** A record bound to a user, as `userSessions` lists it. */
export interface UserRecordSummary {
  id: string;
  createdAt: number;
  lastUsedAt: number;
  /** The record's device metadata, when it has some. */
  device?: string;
}

/** A write refused by the size rule; `size` is what the record's data would have been. */
export interface TooLarge {
  status: 'too large';
  size: number;
}

/**
 * `'stale'`: only for a write with `expect`, when the record is no longer as expected (nothing written).
 * `'newer'`: the record was written by a higher schema version than the writer's (nothing written).
 */
export type WriteResult = 'ok' | 'gone' | 'exists' | 'stale' | 'newer' | TooLarge;

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

/**
 * `revokeSessions`'s answer: of the selected IDs, those whose session was ended (`endedAt`: the ID it was ended
 * at, after following its moves, or null), one per session: an index holds both the old and the new ID of a
 * session moments after its move, and both lead to it. For a revoke done in batches, one call per batch with
 * the same `seen` (the IDs the sessions were ended at so far).
 */
export function endedOnce(ids: readonly string[], endedAt: readonly (string | null)[], seen = new Set<string>()): string[] {
  return ids.filter((_, position) => {
    const at = endedAt[position];
    if (at === null || at === undefined || seen.has(at)) return false;
    seen.add(at);
    return true;
  });
}

/**
 * The most commands a store has in flight at once for one operation on a user's sessions (a listing, a
 * trim, a revoke), and the most sessions it handles in one turn of the event loop: each batch is sent, and
 * its replies handled, before the next, so the operation's cost per turn stays the same however many
 * sessions the user has, and other requests' commands are never queued behind all of them.
 */
export const USER_BATCH = 100;

/** Runs `task` over `items` in batches of {@link USER_BATCH}, each in parallel and once the one before is done; the results in order. */
export async function inBatches<T, R>(items: readonly T[], task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let at = 0; at < items.length; at += USER_BATCH) results.push(...(await Promise.all(items.slice(at, at + USER_BATCH).map(task))));
  return results;
}

/**
 * How many of a record's last changes a store remembers the tokens of (`RecordWrite.token`). A resend follows its
 * first run by the time a reconnection takes; the record would have to change this many times meanwhile for the
 * resend to be applied again.
 */
export const RECENT_TOKEN_COUNT = 8;

/** How many moves in a row `revokeSessions` follows from one index entry (a session regenerated again and again). */
export const MAX_REVOKE_HOPS = 16;

export interface FieldSwap {
  field: string;
  expected: Uint8Array | null;
  /** The field's new bytes; `null` removes it. */
  next: Uint8Array | null;
  now: number;
  maxSize: number;
  /** Unique to this call, as {@link RecordWrite.token}. */
  token: string;
  /**
   * The writer's schema version, for a data field: refused (`'newer'`) on a record written by a higher one,
   * whose fields an older schema no longer describes. Absent for a flash value, which no migration changes.
   */
  schemaVersion?: number;
}

export type CompareAndSetResult =
  | { status: 'ok' }
  | { status: 'newer' }
  | { status: 'conflict'; current: Uint8Array | null }
  | { status: 'gone' }
  | TooLarge;

/** The methods every {@link SessionStore} has. */
const STORE_METHODS = ['load', 'touch', 'write', 'compareAndSet', 'moveOut', 'destroy', 'bindUser', 'unbindUser', 'userSessions', 'trimUserSessions', 'revokeSessions', 'close'] as const;

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
