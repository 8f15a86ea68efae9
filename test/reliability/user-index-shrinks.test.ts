import { expect, test } from 'vitest';
import { memoryStore, redisStore, type RecordWrite, type SessionStore } from '../../src/index.js';
import { createSessionId } from '../../src/id.js';
import { userIndexSize } from '../../src/stores/memory.js';
import { useStores } from '../helpers/request.js';
import { forEachConcurrently, logFigures } from './support/figures.js';

const { redis } = useStores();

const EXPIRED = 10_000;
const LIVE = 5;

const create = (userId: string, ttlMs: number): RecordWrite => {
  const now = Date.now();
  return { create: true, now, ttlMs, createdAt: now, userId, lifespan: null, schemaVersion: 1, set: new Map(), remove: [], maxSize: 65_536, token: createSessionId() };
};

const stores: Record<string, { make: () => SessionStore; indexSize: (store: SessionStore, userId: string) => Promise<number> }> = {
  redis: {
    make: () => redisStore({ redis: () => redis().client() }),
    indexSize: async (_store, userId) => {
      const inspect = redis().client();
      const size = await inspect.zcard(`session:user:{${userId}}`);
      inspect.disconnect();
      return size;
    },
  },
  memory: { make: () => memoryStore({ maxSessions: EXPIRED * 2 }), indexSize: async (store, userId) => userIndexSize(store, userId) },
};

test.each(Object.keys(stores))(
  '%s: the index of a user whose 10,000 sessions expired shrinks back to the live ones at the next listing',
  async (name) => {
    const { make, indexSize } = stores[name]!;
    const store = make();
    const userId = `busy-${createSessionId()}`;
    try {
      // 10,000 short-lived sessions of one user, written as the core writes a new bound session.
      // Long enough that none expires while the 10,000 are written (the memory store prunes at every bind).
      const lifetimeMs = 5_000;
      await forEachConcurrently(
        Array.from({ length: EXPIRED }, () => createSessionId()),
        200,
        async (id) => void expect(await store.write(id, create(userId, lifetimeMs))).toBe('ok'),
      );
      const expiredBy = Date.now() + lifetimeMs;
      for (let index = 0; index < LIVE; index++) expect(await store.write(createSessionId(), create(userId, 600_000))).toBe('ok');
      const before = await indexSize(store, userId);
      expect(before).toBe(EXPIRED + LIVE);

      while (Date.now() <= expiredBy + 50) await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      const listed = await store.userSessions(userId, Date.now(), 100);
      const listingMs = performance.now() - started;
      expect(listed).toHaveLength(LIVE);
      const after = await indexSize(store, userId);
      expect(after).toBe(LIVE);

      // The next listing pays for the live ones only.
      const again = performance.now();
      expect(await store.userSessions(userId, Date.now(), 100)).toHaveLength(LIVE);
      logFigures(`user index of ${EXPIRED} expired + ${LIVE} live sessions (${name})`, {
        'entries before': before,
        'entries after the listing': after,
        'pruning listing ms': listingMs.toFixed(0),
        'next listing ms': (performance.now() - again).toFixed(1),
      });
    } finally {
      await store.close();
    }
  },
  120_000,
);

test.each(Object.keys(stores))('%s: binding a session prunes the entries that expired long enough ago, without a listing', async (name) => {
  const { make, indexSize } = stores[name]!;
  const store = make();
  const userId = `old-${createSessionId()}`;
  try {
    for (let index = 0; index < 200; index++) {
      const write = create(userId, 1);
      // Redis keeps an index entry a minute past its expiry (app servers' clocks may differ): these sessions
      // expired two minutes ago. The first is pruned by its own bind: the index is left empty, and so removed.
      const longAgo = Date.now() - 120_000;
      expect(await store.write(createSessionId(), name === 'redis' ? { ...write, now: longAgo, createdAt: longAgo } : write)).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const bound = createSessionId();
    await store.write(bound, create(userId, 600_000));
    // Redis prunes at every bind; the memory store once its index has doubled (from 64 entries), so that a
    // bind costs O(1) on average.
    expect(await indexSize(store, userId)).toBeLessThanOrEqual(name === 'redis' ? 1 : 64);
  } finally {
    await store.close();
  }
});
