import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, redisStore, type RecordWrite, type SessionError, type SessionEvent, type SessionStore } from '../../src/index.js';
import { createSessionId, createWriteToken, sessionRef } from '../../src/id.js';
import { USER_BATCH } from '../../src/stores/store.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { handleFor, requestFor } from '../helpers/request.js';
import { forEachConcurrently, logFigures } from './support/figures.js';

/** The sessions of the one user whose account is huge: as many as the issue measured the outage at. */
const HUGE = 100_000;

/** What a backend's client does: commands sent and the most in flight at once (null for the memory store). */
interface Traffic {
  sent: number;
  inFlight: number;
  maxInFlight: number;
}

/** Counts the commands `client` sends and how many await their reply at once, without changing them. */
function watched(client: Redis | Cluster): Traffic {
  const traffic: Traffic = { sent: 0, inFlight: 0, maxInFlight: 0 };
  const send = client.sendCommand.bind(client) as (command: { promise: Promise<unknown> }, ...rest: unknown[]) => unknown;
  Object.assign(client, {
    sendCommand(command: { promise: Promise<unknown> }, ...rest: unknown[]) {
      traffic.sent++;
      traffic.maxInFlight = Math.max(traffic.maxInFlight, ++traffic.inFlight);
      const settled = () => void traffic.inFlight--;
      command.promise.then(settled, settled);
      return send(command, ...rest);
    },
  });
  return traffic;
}

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster({ masters: 3, replicasPerMaster: 1 })]);
}, 120_000);
afterAll(async () => {
  await Promise.all([server?.stop(true), cluster?.stop()]);
});

const backends: Record<string, () => { store: SessionStore; traffic: Traffic | null; close(): void }> = {
  redis: () => {
    const client = server.client();
    return { store: redisStore({ redis: client }), traffic: watched(client), close: () => client.disconnect() };
  },
  cluster: () => {
    const client = cluster.client();
    return { store: redisStore({ redis: client }), traffic: watched(client), close: () => client.disconnect() };
  },
  memory: () => ({ store: memoryStore({ maxSessions: 2 * HUGE, maxBytes: 512 * 1024 * 1024 }), traffic: null, close: () => undefined }),
};

const schema = z.object({ counter: z.number().int().default(0) });

function manager(store: SessionStore, maxSessionsPerUser?: number) {
  const errors: SessionError[] = [];
  const events: SessionEvent[] = [];
  const sessions = createSessionManager({
    schema,
    store,
    touchAfter: 0,
    ...(maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser }),
    onError: (error) => errors.push(error),
    onEvent: (event) => void events.push(event),
  });
  return { sessions, errors, events };
}

/** A login: a new session, bound to `userId` (written at once), with a value written after the response. */
async function login(sessions: ReturnType<typeof manager>['sessions'], userId: string): Promise<string> {
  const request = requestFor();
  const session = await handleFor(sessions, request.transport).start();
  await session.bindUser(userId, { device: { label: 'Laptop', userAgent: 'test' } });
  session.data.put('counter', 1);
  await request.end();
  return session.id;
}

/** A session of the user, written as a login writes it: created bound, with its device and a field. */
const asLoggedIn = (userId: string): RecordWrite => {
  const now = Date.now();
  return {
    create: true,
    now,
    ttlMs: 86_400_000,
    createdAt: now,
    userId,
    device: JSON.stringify({ label: 'Laptop', userAgent: 'test' }),
    lifespan: null,
    schemaVersion: 1,
    set: new Map([['counter', new Uint8Array([1])]]),
    remove: [],
    maxSize: 65_536,
    token: createWriteToken(),
  };
};

describe.each(Object.keys(backends))('%s', (name) => {
  test('a login past maxSessionsPerUser ends the session used least recently, told as revoked', async () => {
    const backend = backends[name]!();
    const { sessions, errors, events } = manager(backend.store, 3);
    const user = `capped-${createSessionId()}`;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    try {
      const ids: string[] = [];
      for (let device = 0; device < 3; device++) {
        ids.push(await login(sessions, user));
        await pause();
      }
      // The first device is used again: its expiry is pushed back, the second's is now the nearest.
      expect(await handleFor(sessions, requestFor(ids[0]).transport).load()).not.toBeNull();
      await pause();
      ids.push(await login(sessions, user));
      await pause();
      ids.push(await login(sessions, user));
      const open = async (id: string) => (await handleFor(sessions, requestFor(id).transport).load()) !== null;
      expect(await Promise.all(ids.map(open))).toEqual([true, false, false, true, true]);
      const revoked = events.filter((event) => event.type === 'revoked');
      expect(revoked.map(({ ref, reason, userId }) => ({ ref, reason, userId }))).toEqual([
        { ref: sessionRef(ids[1]!), reason: 'maxSessionsPerUser', userId: user },
        { ref: sessionRef(ids[2]!), reason: 'maxSessionsPerUser', userId: user },
      ]);
      expect((await sessions.userSessions(user)).map((entry) => entry.ref).sort()).toEqual([ids[0]!, ids[3]!, ids[4]!].map(sessionRef).sort());
      expect(errors).toEqual([]);
    } finally {
      await sessions.close();
      backend.close();
    }
  });

  test(
    `a user with ${HUGE.toLocaleString('en')} sessions: listing, a login, revoking one and all work in bounded batches, without a false outage or a failed read of another user`,
    async () => {
      const backend = backends[name]!();
      const { store, traffic } = backend;
      const { sessions, errors, events } = manager(store);
      const user = `huge-${createSessionId()}`;
      try {
        const creating = performance.now();
        await forEachConcurrently(
          Array.from({ length: HUGE }, () => createSessionId()),
          500,
          async (id) => void expect(await store.write(id, asLoggedIn(user))).toBe('ok'),
        );
        const createMs = performance.now() - creating;
        const other = await login(sessions, `other-${createSessionId()}`);
        events.length = 0;

        const figures: Record<string, number | string> = { [`created ${HUGE} (ms)`]: createMs.toFixed(0) };
        /**
         * Runs `operation` while another user's session is read every 5 ms; records its time, the event loop's
         * longest delay, the most commands in flight and the event-loop turns it spanned.
         */
        const measured = async <T>(label: string, operation: () => Promise<T>): Promise<T> => {
          const delay = monitorEventLoopDelay({ resolution: 1 });
          let reads = 0;
          let failedReads = 0;
          let turns = 0;
          let done = false;
          const ticker = () => {
            turns++;
            if (!done) setImmediate(ticker);
          };
          const reader = (async () => {
            while (!done) {
              reads++;
              const session = await handleFor(sessions, requestFor(other).transport)
                .load()
                .catch(() => null);
              if (session?.data.get('counter') !== 1) failedReads++;
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
          })();
          if (traffic !== null) traffic.maxInFlight = traffic.sent = 0;
          delay.enable();
          setImmediate(ticker);
          const started = performance.now();
          try {
            return await operation();
          } finally {
            const ms = performance.now() - started;
            done = true;
            await reader;
            delay.disable();
            figures[`${label} ms`] = ms.toFixed(0);
            figures[`${label} event-loop delay ms (max, p99)`] = `${(delay.max / 1e6).toFixed(0)}, ${(delay.percentile(99) / 1e6).toFixed(0)}`;
            if (traffic !== null) {
              figures[`${label} commands`] = traffic.sent;
              figures[`${label} most in flight`] = traffic.maxInFlight;
              // The bound: one batch of the operation's commands, and the reads of the other user's session.
              expect(traffic.maxInFlight, label).toBeLessThanOrEqual(USER_BATCH + 3);
            }
            figures[`${label} turns`] = turns;
            expect(failedReads, `${label}: reads of another user's session that failed`).toBe(0);
            expect(reads, label).toBeGreaterThan(0);
          }
        };

        const listed = await measured('listing', () => sessions.userSessions(user));
        expect(listed).toHaveLength(100);
        expect(await measured('listing 1000', () => sessions.userSessions(user, { limit: 1000 }))).toHaveLength(1000);

        // A login over the cap (from before it was set) ends at most one batch of the sessions over it.
        await measured('login', () => login(sessions, user));
        expect(events.filter((event) => event.reason === 'maxSessionsPerUser')).toHaveLength(USER_BATCH);

        // Revoking one session by its ref reads the whole index to find it, a page at a time.
        expect(await measured('revokeSession', () => sessions.revokeSession(user, listed.at(-1)!.ref))).toBe(true);

        const ended = await measured('revokeUser', () => sessions.revokeUser(user));
        expect(ended).toBe(HUGE + 1 - USER_BATCH - 1);
        expect(events.filter((event) => event.reason === 'revokeUser')).toHaveLength(ended);
        expect(await sessions.userSessions(user)).toEqual([]);
        if (traffic === null) {
          // The memory store works through the user's sessions a batch per turn of the event loop.
          expect(Number(figures['revokeUser turns'])).toBeGreaterThanOrEqual(HUGE / USER_BATCH - 10);
        }
        // Not one command timed out: no outage was reported, and the other user's session is untouched.
        expect(errors).toEqual([]);
        expect((await handleFor(sessions, requestFor(other).transport).load())?.data.get('counter')).toBe(1);
        logFigures(`a user with ${HUGE} sessions (${name})`, figures);
      } finally {
        await sessions.close();
        backend.close();
      }
    },
    600_000,
  );
});
