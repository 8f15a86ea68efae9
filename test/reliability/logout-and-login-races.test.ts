import { TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, redisStore, SessionGoneError, type SessionError, type SessionStore } from '../../src/index.js';
import { browser, serveStandalone, type Served } from '../helpers/http.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures, scaled } from './support/figures.js';

/** Two requests of one browser racing over real HTTP, each round a new visitor: a logout against a login. */
const TRIES = scaled(150, 1_500);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const schema = z.object({ marker: z.string().optional() });

function raceApp(store: SessionStore, errors: SessionError[]) {
  const sessions = createSessionManager({ schema, store, onError: (error) => errors.push(error) });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const router = t.router({
    /** A visitor's session, marked as this round's: every record derived from it carries the mark. */
    begin: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.put('marker', input);
      await ctx.session.persist();
      return true;
    }),
    /** A login: the session moves to a new ID and is bound to the user. */
    signIn: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate();
      await session.bindUser(input);
      return true;
    }),
    /** A logout, `delayMs` after the request read its session. */
    logout: t.procedure.input(z.number()).mutation(async ({ ctx, input }) => {
      await ctx.session.load();
      if (input > 0) await pause(input);
      await ctx.session.destroy();
      return true;
    }),
    peek: t.procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      return session === null ? null : { marker: session.data.get('marker') ?? null, userId: session.userId };
    }),
  });
  return { sessions, router };
}

type RaceRouter = ReturnType<typeof raceApp>['router'];

/** A call's outcome: done, or refused with `SessionGoneError` (through tRPC: `CONFLICT`). */
function settled(call: Promise<unknown>): Promise<'done' | 'refused'> {
  return call.then(
    () => 'done',
    (error: unknown) => {
      if (error instanceof TRPCClientError && /was destroyed, moved to a new ID or expired/.test(error.message)) return 'refused';
      throw error;
    },
  );
}

let redis: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster({ masters: 3, replicasPerMaster: 0 })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([redis?.stop(true), cluster?.stop()]);
});

const stores: Record<string, () => SessionStore> = {
  redis: () => redisStore({ redis: () => redis.client() }),
  cluster: () => redisStore({ redis: () => cluster.client() }),
  memory: () => memoryStore(),
};

describe.each(Object.keys(stores))('%s store', (storeName) => {
  let served: Served;
  let sessions: ReturnType<typeof raceApp>['sessions'];
  const errors: SessionError[] = [];
  beforeAll(async () => {
    const app = raceApp(stores[storeName]!(), errors);
    sessions = app.sessions;
    served = await serveStandalone(app.router, sessions.createContext);
  });
  afterAll(async () => {
    await served?.close();
    await sessions?.close();
  });

  /** What the session a cookie value names holds, asked with that cookie alone. */
  const peekWith = async (sid: string) => {
    const response = await fetch(`${served.url}/peek`, { headers: { cookie: `sid=${sid}` } });
    return ((await response.json()) as { result: { data: { marker: string | null; userId: string | null } | null } }).result.data;
  };

  for (const delayMs of [0, 3]) {
    test(`once destroy() resolves, no record derived from the session lives, whatever a concurrent regenerate() did (${delayMs} ms between the logout's read and its destroy)`, async () => {
      errors.length = 0;
      const counts: Record<string, number> = { tries: 0, 'logout done, a derived session lives': 0, 'logout done, the browser still signed in': 0 };
      const count = (outcome: string) => (counts[outcome] = (counts[outcome] ?? 0) + 1);
      for (let attempt = 0; attempt < TRIES; attempt++) {
        counts['tries']!++;
        const marker = `visitor-${delayMs}-${attempt}`;
        const { client, jar } = browser<RaceRouter>(served.url, 'single');
        await client.begin.mutate(marker);
        const oldSid = jar.cookies.get('sid')!;
        const [login, logout] = await Promise.all([
          settled((async () => {
            await pause(Math.random() * 3);
            return client.signIn.mutate(`user-${marker}`);
          })()),
          settled((async () => {
            await pause(Math.random() * 3);
            return client.logout.mutate(delayMs);
          })()),
        ]);
        count(`login ${login}, logout ${logout}`);
        // Every ID the browser was handed (and the one it started with): none may open a session carrying the mark.
        const handed = new Set([oldSid, ...jar.received.filter((cookie) => cookie.name === 'sid' && cookie.value).map((cookie) => cookie.value!)]);
        const derivedLive = (await Promise.all([...handed].map(peekWith))).some((data) => data?.marker === marker);
        const signedIn = (await client.peek.query())?.marker === marker;
        if (logout === 'done' && derivedLive) count('logout done, a derived session lives');
        if (logout === 'done' && signedIn) count('logout done, the browser still signed in');
      }
      logFigures(`logout racing a login, ${delayMs} ms before destroy (${storeName})`, counts);
      expect(counts['logout done, a derived session lives']).toBe(0);
      expect(counts['logout done, the browser still signed in']).toBe(0);
      expect(errors.filter((error) => !(error instanceof SessionGoneError))).toEqual([]);
    }, 180_000);
  }
});
