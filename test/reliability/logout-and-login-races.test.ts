import { TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, redisStore, SessionGoneError, type SessionError, type SessionStore } from '../../src/index.js';
import { browser, serveStandalone, type Served } from '../helpers/http.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures, scaled } from './support/figures.js';

/**
 * Two requests of one browser racing over real HTTP, each round a new visitor: a logout against a login
 * (`destroy()` against `regenerate()`), and "log out other devices" against the device's own `regenerate()`.
 */
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
    regenerate: t.procedure.mutation(async ({ ctx }) => {
      if ((await ctx.session.load()) === null) return null;
      await ctx.session.regenerate();
      return true;
    }),
    /** "Log out my other devices", `delayMs` after the request read its session (a password check, say). */
    logoutOthers: t.procedure.input(z.number()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.load();
      if (session === null) return null;
      if (input > 0) await pause(input);
      return sessions.revokeOtherSessions(session);
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

  test("revokeOtherSessions racing the same device's regenerate() never ends that device (0 or 3 ms between the revoke's read and the revoke)", async () => {
    errors.length = 0;
    const counts: Record<string, number> = { tries: 0, 'current device logged out': 0, 'other device survived a revoke': 0 };
    const count = (outcome: string) => (counts[outcome] = (counts[outcome] ?? 0) + 1);
    for (let attempt = 0; attempt < TRIES; attempt++) {
      counts['tries']!++;
      const user = `user-others-${attempt}`;
      const signIn = async () => {
        const made = browser<RaceRouter>(served.url, 'single');
        await made.client.begin.mutate(user);
        await made.client.signIn.mutate(user);
        return made;
      };
      const [device, other] = [await signIn(), await signIn()];
      const [ended, regenerated] = await Promise.all([
        (async () => {
          await pause(Math.random() * 3);
          return device.client.logoutOthers.mutate(attempt % 2 === 0 ? 0 : 3);
        })(),
        (async () => {
          await pause(Math.random() * 3);
          return device.client.regenerate.mutate();
        })(),
      ]);
      count(`revoke ${ended === null ? 'found the session moved' : `ended ${ended}`}, regenerate ${regenerated === null ? 'found no session' : 'done'}`);
      if ((await device.client.peek.query())?.userId !== user) count('current device logged out');
      if (ended !== null && (await other.client.peek.query()) !== null) count('other device survived a revoke');
    }
    logFigures(`revokeOtherSessions racing the device's regenerate (${storeName})`, counts);
    expect(counts['current device logged out']).toBe(0);
    expect(counts['other device survived a revoke']).toBe(0);
    expect(errors).toEqual([]);
  }, 180_000);
});
