import {
  expiryAtLoad,
  type CompareAndSetResult,
  type ExpiryPolicy,
  type FieldSwap,
  type LoadResult,
  type RecordWrite,
  type SessionStore,
  type UserRecordSummary,
  type WriteResult,
} from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once. Past it, the least recently used 1% are evicted, so memory stays
   * bounded whatever the traffic.
   * @default 10000
   */
  maxSessions?: number;
}

interface MemoryRecord {
  fields: Map<string, Uint8Array>;
  createdAt: number;
  lastUsedAt: number;
  schemaVersion: number;
  userId: string | null;
  expiresAt: number;
}

/**
 * The embedded store: sessions in this process's memory, with the same semantics as Redis (expiry, field-level
 * writes, no resurrection). For development and the demo: sessions are lost on restart and not shared
 * between processes.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 10_000;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new TypeError('trpc-session: maxSessions must be a positive integer');
  // A Map iterates in insertion order; re-inserting on use keeps the least recently used first.
  const records = new Map<string, MemoryRecord>();
  /** Per user, the IDs of the records bound to it (an expired record's entry stays until it is next read). */
  const users = new Map<string, Set<string>>();

  /** Removes a record and its entry in its user's index. */
  const remove = (id: string) => {
    const userId = records.get(id)?.userId;
    records.delete(id);
    if (userId === null || userId === undefined) return;
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
    records.delete(id);
    records.set(id, record);
    return record;
  };

  // Evicting one record at a time cost about 6 µs per new session at 10,000 records: V8 leaves a deleted
  // Map entry in place until it next rehashes, and every `keys().next()` skips the holes left at the front.
  // Evicting the least recently used 1% at once pays that walk once per batch.
  const evictionBatch = Math.ceil(maxSessions / 100);
  const insert = (id: string, record: MemoryRecord) => {
    records.set(id, record);
    if (records.size <= maxSessions) return;
    let evicted = 0;
    for (const oldest of records.keys()) {
      remove(oldest);
      if (++evicted === evictionBatch) break;
    }
  };

  /** The user's index, without the entries whose record is gone or bound to someone else. */
  const boundTo = (userId: string, now: number): Set<string> => {
    const ids = users.get(userId) ?? new Set<string>();
    for (const id of ids) {
      const record = records.get(id);
      if (record === undefined || record.expiresAt <= now || record.userId !== userId) ids.delete(id);
    }
    if (ids.size === 0) users.delete(userId);
    return ids;
  };

  const index = (id: string, userId: string, now: number) => {
    users.set(userId, boundTo(userId, now).add(id));
  };

  // Values are copied in: msgpackr's output shares a larger buffer, which a long-lived record would pin.
  const copy = (bytes: Uint8Array) => new Uint8Array(bytes);

  return {
    async load(id: string, policy: ExpiryPolicy, now: number): Promise<LoadResult> {
      const record = live(id, now);
      if (record === undefined) return { status: 'missing' };
      const expiry = expiryAtLoad(policy, record.createdAt, record.expiresAt, now);
      if (expiry === 'ended') {
        remove(id);
        return { status: 'missing' };
      }
      const { refreshTo } = expiry;
      if (refreshTo !== null) {
        record.expiresAt = now + refreshTo;
        record.lastUsedAt = now;
      }
      return {
        status: 'found',
        record: {
          fields: new Map(record.fields),
          createdAt: record.createdAt,
          lastUsedAt: record.lastUsedAt,
          schemaVersion: record.schemaVersion,
          userId: record.userId,
          ttlMs: refreshTo ?? expiry.ttlMs,
          refreshed: refreshTo !== null,
        },
      };
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      let record = live(id, change.now);
      if (change.create) {
        if (record !== undefined) return 'exists';
        record = { fields: new Map(), createdAt: change.createdAt, lastUsedAt: change.now, schemaVersion: change.schemaVersion, userId: change.userId, expiresAt: 0 };
        insert(id, record);
        if (change.userId !== null) index(id, change.userId, change.now);
      } else if (record === undefined) {
        return 'gone';
      }
      for (const field of change.remove) record.fields.delete(field);
      for (const [field, bytes] of change.set) record.fields.set(field, copy(bytes));
      record.lastUsedAt = change.now;
      record.schemaVersion = change.schemaVersion;
      if (change.create) record.expiresAt = change.now + change.ttlMs;
      return 'ok';
    },

    async compareAndSet(id: string, swap: FieldSwap): Promise<CompareAndSetResult> {
      const record = live(id, swap.now);
      if (record === undefined) return { status: 'gone' };
      const current = record.fields.get(swap.field) ?? null;
      const matches = current === null || swap.expected === null ? current === swap.expected : Buffer.compare(current, swap.expected) === 0;
      if (!matches) return { status: 'conflict', current };
      record.fields.set(swap.field, copy(swap.next));
      record.lastUsedAt = swap.now;
      return { status: 'ok' };
    },

    async destroy(id: string): Promise<void> {
      remove(id);
    },

    async bindUser(id: string, userId: string): Promise<'ok' | 'gone'> {
      const now = Date.now();
      const record = live(id, now);
      if (record === undefined) return 'gone';
      record.userId = userId;
      index(id, userId, now);
      return 'ok';
    },

    async unbindUser(id: string, userId: string): Promise<void> {
      users.get(userId)?.delete(id);
    },

    async userSessions(userId: string, now: number): Promise<UserRecordSummary[]> {
      return [...boundTo(userId, now)].map((id) => {
        const { createdAt, lastUsedAt } = records.get(id)!;
        return { id, createdAt, lastUsedAt };
      });
    },

    async revokeUser(userId: string): Promise<number> {
      const ids = boundTo(userId, Date.now());
      const count = ids.size;
      for (const id of ids) remove(id);
      return count;
    },

    async close(): Promise<void> {
      records.clear();
      users.clear();
    },
  };
}
