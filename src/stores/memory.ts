import {
  endedOnce,
  exceedsMaxSize,
  MAX_REVOKE_HOPS,
  MOVED_MARK_MS,
  RECENT_TOKEN_COUNT,
  type MoveOutResult,
  type CompareAndSetResult,
  type FieldSwap,
  type LoadResult,
  type RecordLifespan,
  type RecordTouch,
  type RecordExpectation,
  type RecordWrite,
  type SessionStore,
  type StoredRecord,
  type UserRecordSummary,
  type WriteResult,
  USER_BATCH,
} from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once. Past it, the least recently used 1% are evicted, so memory stays
   * bounded whatever the traffic.
   * @default 10000
   */
  maxSessions?: number;
  /**
   * The most bytes of session data kept at once: every stored field's name and encoded value, and each
   * session's ID and user ID, plus a fixed allowance per session for its metadata. Past it, the least
   * recently used sessions are evicted until the rest fit; the session being written is never the one
   * evicted. At the defaults, 10,000 sessions of up to `maxSize` (64 KiB) could otherwise hold 650 MB.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
}

/** Each memory store's user indexes, for the tests that measure them (`userIndexSize`). */
const userIndexes = new WeakMap<SessionStore, Map<string, Set<string>>>();

/** How many entries a memory store's index of the user holds now, pruned or not: for tests. */
export function userIndexSize(store: SessionStore, userId: string): number {
  return userIndexes.get(store)?.get(userId)?.size ?? 0;
}

/** Orders a user's records from the one that expires last to the one that expires first. */
const expiringLast = ([, a]: [string, { expiresAt: number }], [, b]: [string, { expiresAt: number }]) => b.expiresAt - a.expiresAt;

/** Lets the event loop turn, between batches of a user's sessions. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A user index smaller than this is not pruned when a session is bound (see `index`). */
const MIN_PRUNED_INDEX = 64;

/** What a record costs beyond its fields' bytes (its metadata, its Maps), counted against `maxBytes`. */
const RECORD_OVERHEAD_BYTES = 200;
/** What each field costs beyond its name and value (its Map entry, its Uint8Array). */
const FIELD_OVERHEAD_BYTES = 80;

interface MemoryRecord {
  fields: Map<string, Uint8Array>;
  createdAt: number;
  lastUsedAt: number;
  schemaVersion: number;
  userId: string | null;
  device: string | undefined;
  expiresAt: number;
  lifespan: RecordLifespan;
  /** What the record counts against `maxBytes`. */
  bytes: number;
  /** The tokens of its last changes (see `RecordWrite.token`), in a ring: the next one replaces `tokens[nextToken]`. */
  tokens: string[];
  nextToken: number;
}

/**
 * Records that a change with `token` was applied, so that the same change sent again is not applied twice. A
 * ring, not a list kept newest first: only which tokens are there matters, and nothing moves.
 */
function remember(record: MemoryRecord, token: string): void {
  record.tokens[record.nextToken] = token;
  record.nextToken = (record.nextToken + 1) % RECENT_TOKEN_COUNT;
}

/** Whether a record still has the schema version and exactly the data fields a conditional write expects. */
function isAsExpected(record: MemoryRecord, expect: RecordExpectation): boolean {
  if (record.schemaVersion !== expect.schemaVersion || record.fields.size !== expect.fields.size) return false;
  for (const [field, bytes] of expect.fields) {
    const current = record.fields.get(field);
    if (current === undefined || Buffer.compare(current, bytes) !== 0) return false;
  }
  return true;
}

/** A moved or revoked record's mark; a moved one keeps the record taken, for the same move asked again. */
interface Mark {
  until: number;
  revoked: boolean;
  to?: string;
  taken?: StoredRecord;
}

/**
 * The embedded store: sessions in this process's memory, with the same semantics as Redis (expiry, field-level
 * writes, no resurrection). For development and the demo: sessions are lost on restart and not shared
 * between processes. Bounded by count (`maxSessions`) and by bytes (`maxBytes`, 64 MiB by default), evicting
 * the least recently used sessions past either.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 10_000;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new TypeError('trpc-session: memoryStore `maxSessions` must be a positive integer');
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError('trpc-session: memoryStore `maxBytes` must be a positive whole number of bytes');
  /** The sum of every record's `bytes`. */
  let totalBytes = 0;
  // A Map iterates in insertion order; re-inserting on use keeps the least recently used first.
  const records = new Map<string, MemoryRecord>();
  /**
   * The record last in `records` (the most recently used), while known: using it again moves nothing, as for the
   * write that follows a request's load. The record, not its ID: two equal IDs from two requests are two strings,
   * compared character by character.
   */
  let newest: MemoryRecord | undefined;
  /**
   * The marks left at the IDs of records moved to a new ID (`to`, when known), or revoked, each until it
   * expires. Marks are added in the order they expire (a revoked moved mark keeps its place and expiry), so
   * the expired ones are always at the front.
   */
  const marks = new Map<string, Mark>();
  /** Per user, the IDs of the records bound to it (an expired record's entry stays until it is next read). */
  const users = new Map<string, Set<string>>();

  /** The mark at an ID, while it lasts. */
  const markAt = (id: string, now: number) => {
    const mark = marks.get(id);
    return mark !== undefined && mark.until > now ? mark : undefined;
  };

  const addMark = (id: string, mark: Mark, now: number) => {
    for (const [marked, { until }] of marks) {
      if (until > now) break;
      marks.delete(marked);
    }
    marks.set(id, mark);
  };

  /** Removes a record and, unless it is being moved (its entry must lead a revoke to the new ID), its entry in its user's index. */
  const remove = (id: string, keepIndexEntry = false) => {
    const record = records.get(id);
    if (record === undefined) return;
    const userId = record.userId;
    totalBytes -= record.bytes;
    records.delete(id);
    if (record === newest) newest = undefined;
    if (userId === null || keepIndexEntry) return;
    const ids = users.get(userId);
    ids?.delete(id);
    if (ids?.size === 0) users.delete(userId);
  };

  const live = (id: string, now: number): MemoryRecord | undefined => {
    const record = records.get(id);
    if (record === undefined) return undefined;
    if (record.expiresAt <= now) {
      remove(id);
      return undefined;
    }
    if (record !== newest) {
      records.delete(id);
      records.set(id, record);
      newest = record;
    }
    return record;
  };

  // Evicting one record at a time cost about 6 µs per new session at 10,000 records: V8 leaves a deleted
  // Map entry in place until it next rehashes, and every `keys().next()` skips the holes left at the front.
  // Evicting the least recently used 1% at once pays that walk once per batch.
  const evictionBatch = Math.ceil(maxSessions / 100);
  const insert = (id: string, record: MemoryRecord) => {
    records.set(id, record);
    newest = record;
    if (records.size <= maxSessions) return;
    let evicted = 0;
    for (const oldest of records.keys()) {
      remove(oldest);
      if (++evicted === evictionBatch) break;
    }
  };

  /** The bytes a record counts, recomputed after a change to its fields or user. */
  const recount = (id: string, record: MemoryRecord) => {
    let bytes = RECORD_OVERHEAD_BYTES + id.length * 2 + (record.userId === null ? 0 : record.userId.length * 2) + (record.device?.length ?? 0) * 2;
    for (const [field, value] of record.fields) bytes += FIELD_OVERHEAD_BYTES + field.length * 2 + value.byteLength;
    totalBytes += bytes - record.bytes;
    record.bytes = bytes;
  };

  /** Evicts the least recently used records until the total fits `maxBytes`, sparing `keep` (the one just written). */
  const fitBytes = (keep: string) => {
    if (totalBytes <= maxBytes) return;
    for (const oldest of records.keys()) {
      if (totalBytes <= maxBytes) break;
      if (oldest !== keep) remove(oldest);
    }
  };

  /**
   * The user's index, without the entries whose record is gone or bound to someone else; the entry of a
   * record just moved stays while its mark lasts.
   */
  const boundTo = (userId: string, now: number): Set<string> => {
    const ids = users.get(userId) ?? new Set<string>();
    for (const id of ids) {
      const record = records.get(id);
      if (record === undefined ? markAt(id, now) === undefined : record.expiresAt <= now || record.userId !== userId) ids.delete(id);
    }
    if (ids.size === 0) users.delete(userId);
    return ids;
  };

  /** Per user, how many entries its index held after it was last pruned. */
  const prunedSizes = new Map<string, number>();
  /**
   * Adds a record to its user's index. The index is pruned when it has doubled since it was last (and holds
   * more than `MIN_PRUNED_INDEX`), so binding stays O(1) on average however many sessions the user has,
   * and the expired entries never outnumber the live ones for long.
   */
  const index = (id: string, userId: string, now: number) => {
    const ids = users.get(userId);
    if (ids !== undefined && ids.size < Math.max(MIN_PRUNED_INDEX, 2 * (prunedSizes.get(userId) ?? 0))) {
      ids.add(id);
      return;
    }
    const pruned = boundTo(userId, now).add(id);
    users.set(userId, pruned);
    prunedSizes.set(userId, pruned.size);
  };

  /** The record's data: the sum of its fields' encoded values. */
  const dataSize = (fields: Map<string, Uint8Array>) => {
    let size = 0;
    for (const value of fields.values()) size += value.byteLength;
    return size;
  };

  /** `id` and the IDs its moves led to, as their marks say now. */
  const movedTo = (id: string, now: number): Set<string> => {
    const ids = new Set([id]);
    let mark = markAt(id, now);
    for (let hop = 0; hop < MAX_REVOKE_HOPS && mark !== undefined && !mark.revoked && mark.to !== undefined; hop++) {
      ids.add(mark.to);
      mark = markAt(mark.to, now);
    }
    return ids;
  };

  /**
   * Calls `visit` with each entry of the user's index and its record (undefined: moved moments ago),
   * USER_BATCH entries per turn of the event loop, dropping on the way the entries whose record is gone,
   * expired or bound to someone else (the entry of a record just moved stays while its mark lasts).
   */
  const walkIndex = async (userId: string, now: number, visit: (id: string, record: MemoryRecord | undefined) => void) => {
    const ids = users.get(userId);
    if (ids === undefined) return;
    let inTurn = 0;
    // A Set's iterator goes on over deletions and additions made meanwhile.
    for (const id of ids) {
      if (++inTurn > USER_BATCH) {
        await nextTurn();
        inTurn = 1;
      }
      const record = records.get(id);
      if (record === undefined ? markAt(id, now) === undefined : record.expiresAt <= now || record.userId !== userId) ids.delete(id);
      else visit(id, record);
    }
    if (ids.size === 0 && users.get(userId) === ids) users.delete(userId);
  };

  /**
   * Ends the user's session at `id`, the same steps as the Redis store's REVOKE_SESSION_SCRIPT, hop by hop;
   * returns the ID where it was ended, or null.
   */
  const revoke = (id: string, userId: string, keep: string | null, now: number): string | null => {
    let at = id;
    for (let hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
      const record = live(at, now);
      if (record !== undefined) {
        if (record.userId !== userId) return null;
        remove(at);
        return at;
      }
      const mark = markAt(at, now);
      if (mark === undefined) {
        // Where a move led and nothing is there yet: the move's create will be refused.
        if (hop === 0) return null;
        addMark(at, { until: now + MOVED_MARK_MS, revoked: true }, now);
        return at;
      }
      if (mark.revoked || mark.to === undefined || mark.to === keep) return null;
      users.get(userId)?.delete(at);
      mark.revoked = true;
      at = mark.to;
    }
    return null;
  };

  /** See SessionStore.revokeSessions. */
  const revokeSessions = async (userId: string, which: (id: string) => boolean, keep: string | null): Promise<string[]> => {
    const ended: string[] = [];
    const endedAt = new Set<string>();
    await walkIndex(userId, Date.now(), (id) => {
      // The caller's session wherever it is now, as the index walked so far knows it (a new ID enters the
      // index only once its old ID's mark names it).
      if ((keep === null || !movedTo(keep, Date.now()).has(id)) && which(id)) ended.push(...endedOnce([id], [revoke(id, userId, keep, Date.now())], endedAt));
    });
    return ended;
  };

  // Values are copied in: msgpackr's output shares a larger buffer, which a long-lived record would pin.
  const copy = (bytes: Uint8Array) => new Uint8Array(bytes);

  const store: SessionStore = {
    async load(id: string, now: number): Promise<LoadResult> {
      const record = live(id, now);
      if (record === undefined) return markAt(id, now)?.revoked === false ? { status: 'moved' } : { status: 'missing' };
      const { createdAt, lastUsedAt, schemaVersion, userId, device, expiresAt, lifespan } = record;
      const found: StoredRecord = { fields: new Map(record.fields), createdAt, lastUsedAt, schemaVersion, userId, expiresAt, lifespan };
      // Added when there is one rather than spread into the literal, which V8 copies through its runtime.
      if (device !== undefined) found.device = device;
      return { status: 'found', record: found };
    },

    async touch(id: string, touch: RecordTouch): Promise<'ok' | 'gone'> {
      const record = live(id, touch.now);
      if (record === undefined) return 'gone';
      // The user's index here keeps no expiry of its own: it checks each record's when it is read.
      const expiresAt = touch.now + touch.ttlMs;
      // Never earlier, as the Redis store's TOUCH_SCRIPT: a touch is never meant to bring the expiry forward.
      if (expiresAt > record.expiresAt) {
        record.expiresAt = expiresAt;
        record.lastUsedAt = touch.now;
      }
      return 'ok';
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      let record = live(id, change.now);
      if (record?.tokens.includes(change.token)) return 'ok';
      if (change.create) {
        if (record !== undefined) return 'exists';
        // A failed move puts its record back over its own moved mark; nothing gets past a revoked mark.
        const mark = markAt(id, change.now);
        if (mark?.revoked) return 'gone';
        let size = 0;
        for (const bytes of change.set.values()) size += bytes.byteLength;
        if (exceedsMaxSize(0, size, change.maxSize)) return { status: 'too large', size };
        record = {
          fields: new Map(),
          createdAt: change.createdAt,
          lastUsedAt: change.now,
          schemaVersion: change.schemaVersion,
          userId: change.userId,
          device: change.userId === null ? undefined : change.device,
          expiresAt: 0,
          lifespan: change.lifespan,
          bytes: 0,
          // The create's own token, in a list of its size: a new record's list is all most records ever hold.
          tokens: [change.token],
          nextToken: 1,
        };
        if (mark !== undefined) marks.delete(id);
        insert(id, record);
        if (change.userId !== null) index(id, change.userId, change.now);
      } else if (record === undefined) {
        return 'gone';
      } else if (record.schemaVersion > change.schemaVersion) {
        return 'newer';
      } else if (change.expect !== undefined && !isAsExpected(record, change.expect)) {
        return 'stale';
      }
      if (!change.create) {
        let growth = 0;
        for (const field of change.remove) growth -= record.fields.get(field)?.byteLength ?? 0;
        for (const [field, bytes] of change.set) growth += bytes.byteLength - (change.remove.includes(field) ? 0 : (record.fields.get(field)?.byteLength ?? 0));
        // An update that does not grow the record passes the size rule whatever its size: measured only when it grows.
        if (growth > 0) {
          const before = dataSize(record.fields);
          if (exceedsMaxSize(before, before + growth, change.maxSize)) return { status: 'too large', size: before + growth };
        }
      }
      for (const field of change.remove) record.fields.delete(field);
      for (const [field, bytes] of change.set) record.fields.set(field, copy(bytes));
      record.lastUsedAt = change.now;
      record.schemaVersion = change.schemaVersion;
      if (change.create) record.expiresAt = change.now + change.ttlMs;
      else remember(record, change.token);
      recount(id, record);
      fitBytes(id);
      return 'ok';
    },

    async compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult> {
      const record = live(id, swap.now);
      if (record === undefined) return { status: 'gone' };
      if (record.tokens.includes(swap.token)) return { status: 'ok' };
      if (swap.schemaVersion !== undefined && record.schemaVersion > swap.schemaVersion) return { status: 'newer' };
      const current = record.fields.get(swap.field) ?? null;
      const matches = current === null || swap.expected === null ? current === swap.expected : Buffer.compare(current, swap.expected) === 0;
      if (!matches) return { status: 'conflict', current };
      const before = dataSize(record.fields);
      const after = before - (current?.byteLength ?? 0) + (swap.next?.byteLength ?? 0);
      if (exceedsMaxSize(before, after, swap.maxSize)) return { status: 'too large', size: after };
      if (swap.next === null) record.fields.delete(swap.field);
      else record.fields.set(swap.field, copy(swap.next));
      record.lastUsedAt = swap.now;
      remember(record, swap.token);
      recount(id, record);
      fitBytes(id);
      return { status: 'ok' };
    },

    async moveOut(id: string, now: number, to?: string): Promise<MoveOutResult> {
      const record = live(id, now);
      if (record === undefined) {
        // The same move asked again (its new ID is unique to it) answers the record it took.
        const mark = markAt(id, now);
        const taken = mark !== undefined && !mark.revoked && to !== undefined && mark.to === to ? mark.taken : undefined;
        return taken === undefined ? { status: 'gone' } : { status: 'found', record: { ...taken, fields: new Map(taken.fields) } };
      }
      remove(id, true);
      const { fields, createdAt, lastUsedAt, schemaVersion, userId, device, expiresAt, lifespan } = record;
      const taken: StoredRecord = { fields, createdAt, lastUsedAt, schemaVersion, userId, ...(device === undefined ? {} : { device }), expiresAt, lifespan };
      addMark(id, { until: now + MOVED_MARK_MS, revoked: false, ...(to === undefined ? {} : { to, taken: { ...taken, fields: new Map(fields) } }) }, now);
      return { status: 'found', record: taken };
    },

    async destroy(id: string): Promise<boolean> {
      // The same steps as the Redis store's DESTROY_SESSION_SCRIPT, hop by hop.
      const now = Date.now();
      let at = id;
      for (let hop = 0; hop < MAX_REVOKE_HOPS; hop++) {
        if (live(at, now) !== undefined) {
          remove(at);
          return true;
        }
        const mark = markAt(at, now);
        if (mark === undefined) {
          // Where a move led and nothing is there yet: the move's create will be refused.
          if (hop === 0) return false;
          addMark(at, { until: now + MOVED_MARK_MS, revoked: true }, now);
          return true;
        }
        if (mark.revoked) return false;
        mark.revoked = true;
        if (mark.to === undefined) return true;
        at = mark.to;
      }
      return false;
    },

    async bindUser(id: string, userId: string, _expiresAt: number, device?: string): Promise<'ok' | 'gone'> {
      const now = Date.now();
      const record = live(id, now);
      if (record === undefined) return 'gone';
      record.userId = userId;
      record.device = device;
      index(id, userId, now);
      recount(id, record);
      fitBytes(id);
      return 'ok';
    },

    async unbindUser(id: string, userId: string): Promise<void> {
      users.get(userId)?.delete(id);
    },

    async userSessions(userId: string, now: number, limit: number): Promise<UserRecordSummary[]> {
      let latest: [string, MemoryRecord][] = [];
      await walkIndex(userId, now, (id, record) => {
        if (record === undefined) return; // moved moments ago
        latest.push([id, record]);
        // Only the `limit` that expire last are kept: cut back to them whenever twice as many are held.
        if (latest.length === 2 * limit) latest = latest.sort(expiringLast).slice(0, limit);
      });
      return latest
        .sort(expiringLast)
        .slice(0, limit)
        .map(([id, { createdAt, lastUsedAt, device }]) => ({ id, createdAt, lastUsedAt, ...(device === undefined ? {} : { device }) }));
    },

    async trimUserSessions(userId: string, max: number, keep: string, now: number): Promise<string[]> {
      let count = 0;
      let soonest: [string, MemoryRecord][] = [];
      await walkIndex(userId, now, (id, record) => {
        if (record === undefined) return; // the old ID of a session counted at its new one
        count++;
        if (id === keep) return;
        soonest.push([id, record]);
        if (soonest.length === 2 * USER_BATCH) soonest = soonest.sort(expiringLast).slice(USER_BATCH);
      });
      const over = Math.min(count - max, USER_BATCH);
      if (over <= 0) return [];
      return soonest
        .sort(expiringLast)
        .slice(-over)
        .flatMap(([id]) => {
          // Bound to the user still, after the turns the walk may have taken.
          if (live(id, Date.now())?.userId !== userId) return [];
          remove(id);
          return [id];
        });
    },

    revokeSessions,

    async close(): Promise<void> {
      records.clear();
      newest = undefined;
      marks.clear();
      users.clear();
      prunedSizes.clear();
      totalBytes = 0;
    },
  };
  userIndexes.set(store, users);
  return store;
}
