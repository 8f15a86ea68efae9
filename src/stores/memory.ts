import {
  remainingLifetime,
  type CompareAndSetResult,
  type ExpiryPolicy,
  type FieldSwap,
  type LoadResult,
  type RecordWrite,
  type SessionStore,
  type WriteResult,
} from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once. Past it, the least recently used session is evicted, so memory stays
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

  const live = (id: string, now: number): MemoryRecord | undefined => {
    const record = records.get(id);
    if (record === undefined) return undefined;
    if (record.expiresAt <= now) {
      records.delete(id);
      return undefined;
    }
    records.delete(id);
    records.set(id, record);
    return record;
  };

  const insert = (id: string, record: MemoryRecord) => {
    records.set(id, record);
    if (records.size > maxSessions) records.delete(records.keys().next().value!);
  };

  // Values are copied in: msgpackr's output shares a larger buffer, which a long-lived record would pin.
  const copy = (bytes: Uint8Array) => new Uint8Array(bytes);

  return {
    async load(id: string, policy: ExpiryPolicy, now: number): Promise<LoadResult> {
      const record = live(id, now);
      if (record === undefined) return { status: 'missing' };
      const remaining = remainingLifetime(policy, record.createdAt, now);
      if (remaining <= 0) {
        records.delete(id);
        return { status: 'missing' };
      }
      let ttlMs = record.expiresAt - now;
      const refreshed = remaining - ttlMs >= policy.touchAfterMs;
      if (refreshed) {
        record.expiresAt = now + remaining;
        record.lastUsedAt = now;
        ttlMs = remaining;
      }
      return {
        status: 'found',
        record: {
          fields: new Map(record.fields),
          createdAt: record.createdAt,
          lastUsedAt: record.lastUsedAt,
          schemaVersion: record.schemaVersion,
          ttlMs,
          refreshed,
        },
      };
    },

    async write(id: string, change: RecordWrite): Promise<WriteResult> {
      let record = live(id, change.now);
      if (change.create) {
        if (record !== undefined) return 'exists';
        record = { fields: new Map(), createdAt: change.createdAt, lastUsedAt: change.now, schemaVersion: change.schemaVersion, expiresAt: 0 };
        insert(id, record);
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
      records.delete(id);
    },

    async close(): Promise<void> {
      records.clear();
    },
  };
}
