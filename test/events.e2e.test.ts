import { initTRPC } from '@trpc/server';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { sessionRef } from '../src/id.js';
import {
  createSessionManager,
  memoryStore,
  SessionEventHookError,
  type SessionContext,
  type SessionError,
  type SessionEvent,
  type SessionManagerOptions,
  type SessionStore,
} from '../src/index.js';
import { eventually } from './helpers/fixture.js';
import { CookieJar, serveStandalone, trpcClient, type Served } from './helpers/http.js';
import { handleFor, requestFor, useStores } from './helpers/request.js';

/*
 * onEvent over real HTTP, on Redis and the memory store: each event of a session's life, named by refs only
 * (never an ID, never data), and a hook that throws or rejects reported to onError without failing a request.
 */

const schema = z.object({ secret: z.string().optional() });
/** Stored in every session: it must never reach the hook. */
const DATA = 'data-that-must-not-leak';
const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 600 : 150;
/** Concurrent loads of one session per round. */
const TABS = 5;

type Options = Partial<Omit<SessionManagerOptions<typeof schema>, 'schema' | 'store'>>;

function eventsApp(store: SessionStore, options: Options = {}) {
  const events: SessionEvent[] = [];
  const errors: SessionError[] = [];
  const sessions = createSessionManager({
    schema,
    store,
    onEvent: (event) => void events.push(event),
    onError: (error) => errors.push(error),
    ...options,
  });
  const t = initTRPC.context<SessionContext<typeof schema>>().create();
  const procedure = t.procedure.concat(sessions.procedure);
  const router = t.router({
    start: procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('secret', DATA);
      return session.id;
    }),
    login: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate();
      await session.bindUser(input);
      return session.id;
    }),
    read: procedure.query(async ({ ctx }) => (await ctx.session.load())?.id ?? null),
    logout: procedure.mutation(({ ctx }) => ctx.session.destroy()),
    logoutOthers: procedure.mutation(async ({ ctx }) => sessions.revokeOtherSessions((await ctx.session.load())!)),
  });
  return { sessions, events, errors, router };
}

const { stores, redis } = useStores();
const opened: { served: Served; store: SessionStore }[] = [];
afterEach(async () => {
  for (const { served, store } of opened.splice(0)) {
    await served.close();
    await store.close();
  }
});

async function serve(store: SessionStore, options: Options = {}) {
  const app = eventsApp(store, options);
  const served = await serveStandalone(app.router, app.sessions.createContext);
  opened.push({ served, store });
  const browser = (jar = new CookieJar()) => trpcClient<typeof app.router>(served.url, jar, 'single');
  return { ...app, browser };
}

/** Every ID the test saw, checked against what the hook received, whole or as the ID's first characters. */
function expectNoIds(events: SessionEvent[], ids: string[]) {
  const received = JSON.stringify(events);
  for (const id of ids) {
    expect(received).not.toContain(id);
    expect(received).not.toContain(id.slice(0, 6));
  }
  expect(received).not.toContain(DATA);
  for (const event of events) {
    expect(Object.keys(event).every((key) => ['type', 'ref', 'previousRef', 'userId', 'reason', 'at'].includes(key))).toBe(true);
  }
}

const withoutTimes = (events: SessionEvent[]) => events.map(({ at, ...event }) => (expect(at).toBeInstanceOf(Date), event));

describe.each(Object.keys(stores))('%s store', (name) => {
  test('created, regenerated, destroyed and revoked reach onEvent with refs and the user, never IDs or data', async () => {
    const app = await serve(stores[name]!());
    const ids: string[] = [];
    const alice = app.browser();
    ids.push(await alice.start.mutate());
    await eventually(() => expect(app.events).toHaveLength(1));
    ids.push(await alice.login.mutate('alice'));
    ids.push((await alice.read.query())!);
    await alice.logout.mutate();
    const bob = app.browser();
    ids.push(await bob.login.mutate('bob'));
    const otherBob = app.browser();
    ids.push(await otherBob.login.mutate('bob'));
    expect(await app.sessions.revokeUser('bob')).toBe(2);
    await eventually(() => expect(app.events).toHaveLength(7));

    const [first, loggedIn, , bobs, otherBobs] = ids as [string, string, string, string, string];
    const events = withoutTimes(app.events);
    expect(events.slice(0, 5)).toEqual([
      { type: 'created', ref: sessionRef(first), userId: null },
      // regenerate() comes before bindUser() at login: the session moved while still anonymous.
      { type: 'regenerated', ref: sessionRef(loggedIn), previousRef: sessionRef(first), userId: null },
      { type: 'destroyed', ref: sessionRef(loggedIn), userId: 'alice' },
      // A login without a session: the new session is written by bindUser, bound.
      { type: 'created', ref: sessionRef(bobs), userId: 'bob' },
      { type: 'created', ref: sessionRef(otherBobs), userId: 'bob' },
    ]);
    expect(events.slice(5)).toEqual(
      expect.arrayContaining([
        { type: 'revoked', ref: sessionRef(bobs), userId: 'bob', reason: 'revokeUser' },
        { type: 'revoked', ref: sessionRef(otherBobs), userId: 'bob', reason: 'revokeUser' },
      ]),
    );
    expect(await bob.read.query()).toBeNull();
    expectNoIds(app.events, ids);
    expect(app.errors).toEqual([]);
  });

  test('revokeSession and revokeOtherSessions tell revoked, one event per session, by the ref a listing showed', async () => {
    const app = await serve(stores[name]!());
    const [laptop, phone, tablet] = [app.browser(), app.browser(), app.browser()];
    const ids = [await laptop.login.mutate('dana'), await phone.login.mutate('dana'), await tablet.login.mutate('dana')] as [string, string, string];
    await eventually(() => expect(app.events).toHaveLength(3));
    expect(await app.sessions.revokeSession('dana', sessionRef(ids[1]))).toBe(true);
    expect(await laptop.logoutOthers.mutate()).toBe(1);
    expect(withoutTimes(app.events).slice(3)).toEqual([
      { type: 'revoked', ref: sessionRef(ids[1]), userId: 'dana', reason: 'revokeSession' },
      { type: 'revoked', ref: sessionRef(ids[2]), userId: 'dana', reason: 'revokeOtherSessions' },
    ]);
    expect(await laptop.read.query()).toBe(ids[0]);
    expect(await phone.read.query()).toBeNull();
    expectNoIds(app.events, ids);
  });

  test('a load that finds the lifetime over tells expired, with the reason and the user', async () => {
    // A store keeps a record until its expiry, and the cookie expires with it: what a load can find over is a
    // record that outlived its lifetime. Here absoluteLifetime was shortened by a deploy: the session was
    // created under no absolute lifetime, and is read under one second of it.
    const store = stores[name]!();
    const before = await serve(store);
    const jar = new CookieJar();
    const id = await before.browser(jar).login.mutate('carol');
    const cookie = jar.cookies.get(before.sessions.cookieName)!;
    const app = await serve(store, { absoluteLifetime: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const kept = new CookieJar();
    kept.cookies.set(app.sessions.cookieName, cookie);
    expect(await app.browser(kept).read.query()).toBeNull();
    expect(withoutTimes(app.events).at(-1)).toEqual({ type: 'expired', ref: sessionRef(id), userId: 'carol', reason: 'absolute' });
    expect(await app.browser(kept).read.query()).toBeNull();
    expect(app.events.filter((event) => event.type === 'expired')).toHaveLength(1);
    expectNoIds(app.events, [id]);
  });

  test('a shorter cookie.lifespan ends no record early, and tells nothing', async () => {
    const store = stores[name]!();
    const before = await serve(store);
    const jar = new CookieJar();
    const id = await before.browser(jar).start.mutate();
    await eventually(() => expect(before.events).toHaveLength(1));
    const app = await serve(store, { cookie: { lifespan: 1 }, touchAfter: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await app.browser(jar).read.query()).toBe(id);
    expect(app.events).toEqual([]);
  });

  test(`each end is told once: a logout after a revoke tells nothing more; of ${ROUNDS} × ${TABS} concurrent loads past the lifetime, one per session tells expired`, async () => {
    const store = stores[name]!();
    const before = await serve(store);
    const expiring = await Promise.all(
      Array.from({ length: ROUNDS }, async () => {
        const jar = new CookieJar();
        await before.browser(jar).start.mutate();
        return jar.cookies.get(before.sessions.cookieName)!;
      }),
    );
    // Logged in last, so that on a slow host creating the others does not use up its 1-second lifetime.
    const revoked = await before.browser().login.mutate('erin');
    await eventually(() => expect(before.events).toHaveLength(ROUNDS + 1));
    const app = await serve(store, { absoluteLifetime: 1 });
    // The logout loads the session, then a revoke from another device ends it before the logout's destroy().
    const logout = handleFor(app.sessions, requestFor(revoked).transport);
    const session = (await logout.load())!;
    expect(await app.sessions.revokeSession('erin', session.ref)).toBe(true);
    await logout.destroy();
    expect(withoutTimes(app.events)).toEqual([{ type: 'revoked', ref: sessionRef(revoked), userId: 'erin', reason: 'revokeSession' }]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const cookie of expiring) {
      const tabs = Array.from({ length: TABS }, () => {
        const jar = new CookieJar();
        jar.cookies.set(app.sessions.cookieName, cookie);
        return app.browser(jar).read.query();
      });
      expect(await Promise.all(tabs)).toEqual(Array.from({ length: TABS }, () => null));
    }
    const told = new Map<string, number>();
    for (const event of app.events.slice(1)) {
      expect(event).toMatchObject({ type: 'expired', reason: 'absolute' });
      told.set(event.ref, (told.get(event.ref) ?? 0) + 1);
    }
    expect(told.size).toBe(ROUNDS);
    expect([...told.values()].filter((count) => count !== 1)).toEqual([]);
  });

  test.each([
    ['throws', () => {
      throw new Error('audit log down');
    }],
    ['rejects', () => Promise.reject(new Error('audit log down'))],
  ])('a hook that %s is reported to onError, and every request succeeds', async (_, hook) => {
    const app = await serve(stores[name]!(), { onEvent: hook });
    const browser = app.browser();
    const id = await browser.start.mutate();
    await eventually(async () => expect(await browser.read.query()).toBe(id));
    const loggedIn = await browser.login.mutate('dave');
    expect(await browser.read.query()).toBe(loggedIn);
    await browser.logout.mutate();
    expect(await browser.read.query()).toBeNull();
    await eventually(() => expect(app.errors).toHaveLength(3));
    expect(app.errors.every((error) => error instanceof SessionEventHookError)).toBe(true);
    expect(app.errors.map((error) => (error as SessionEventHookError).eventType)).toEqual(['created', 'regenerated', 'destroyed']);
    expect((app.errors[0]!.cause as Error).message).toBe('audit log down');
    expect(app.errors[0]!.message).not.toContain(id);
  });
});

describe('without onEvent', () => {
  const store = memoryStore();
  afterAll(() => store.close());

  test('a hook that is not a function is refused at start-up, naming onEvent', () => {
    expect(() => createSessionManager({ schema, store, onEvent: 'log' as never })).toThrow(new TypeError('trpc-session: `onEvent` must be a function (got "log")'));
  });
});
