import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, SessionFieldDroppedError, type PersistMode, type SessionContext, type SessionError, type SessionStore } from '../src/index.js';
import { eventually, sessionCommands } from './helpers/fixture.js';
import { CookieJar, serveStandalone, trpcClient, type Served } from './helpers/http.js';
import { handleFor, requestFor, useStores } from './helpers/request.js';

/*
 * Flash values over real HTTP, on Redis and the memory store, in both persist modes: set in one request, taken
 * exactly once in a later one however many requests race for it, kept through regenerate(), gone with destroy().
 */

const schema = z.object({ cart: z.array(z.string()).default([]), userId: z.string().optional() });
const flash = z.object({
  notice: z.string().max(100_000),
  formError: z.object({ field: z.string(), message: z.string() }),
});
const MAX_SIZE = 4096;
const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 600 : 150;
const READERS = 50;

/**
 * Holds the requests that reach it until `size` of them have, then lets them all go: every reader of a round
 * has loaded the session (flash value included) before any of them takes it, so the take alone decides.
 */
function barrier() {
  let arrived = 0;
  let size = 0;
  let release: () => void = () => undefined;
  let released = Promise.resolve();
  return {
    arm(count: number) {
      [arrived, size] = [0, count];
      released = new Promise((resolve) => (release = resolve));
    },
    wait(): Promise<void> {
      if (++arrived === size) release();
      return released;
    },
  };
}

function flashApp(store: SessionStore, persist: PersistMode) {
  const errors: SessionError[] = [];
  const loaded = barrier();
  const sessions = createSessionManager({ schema, flash, store, persist, maxSize: MAX_SIZE, onError: (error) => errors.push(error) });
  const t = initTRPC.context<SessionContext<typeof schema, 'session', typeof flash>>().create();
  const procedure = t.procedure.concat(sessions.procedure);
  const router = t.router({
    add: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put('cart', [...session.data.get('cart'), input]);
      session.flash.set('notice', `Added ${input} to your basket`);
      return session.id;
    }),
    formError: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.flash.set('formError', { field: 'email', message: input });
      return session.id;
    }),
    notice: procedure.query(async ({ ctx }) => (await (await ctx.session.load())?.flash.take('notice')) ?? null),
    /** `notice`, once every reader of the round has loaded the session. */
    raceNotice: procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      await loaded.wait();
      return (await session?.flash.take('notice')) ?? null;
    }),
    takeFormError: procedure.query(async ({ ctx }) => (await (await ctx.session.load())?.flash.take('formError')) ?? null),
    cart: procedure.query(async ({ ctx }) => (await ctx.session.load())?.data.get('cart') ?? null),
    /** Sets a notice and takes it back in the same request. */
    setAndTake: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.flash.set('notice', input);
      return (await session.flash.take('notice')) ?? null;
    }),
    setNotice: procedure.input(z.unknown()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      try {
        session.flash.set('notice', input as string);
        return 'set';
      } catch (error) {
        return (error as Error).name;
      }
    }),
    login: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate();
      session.data.put('userId', input);
      session.flash.set('notice', `Welcome back, ${input}`);
      return session.id;
    }),
    regenerate: procedure.mutation(async ({ ctx }) => (await ctx.session.regenerate()).id),
    logout: procedure.mutation(({ ctx }) => ctx.session.destroy()),
  });
  return { sessions, errors, router, loaded };
}

const { stores, redis } = useStores();

/** Whether the store holds a flash value `name` for the session (read straight from the store). */
async function stored(store: SessionStore, id: string, name: string): Promise<boolean> {
  const loaded = await store.load(id, Date.now());
  return loaded.status === 'found' && loaded.record.fields.has(`flash:${name}`);
}

describe.each(Object.keys(stores).flatMap((name) => (['after-response', 'before-response'] as const).map((persist) => [name, persist] as const)))(
  '%s store, %s',
  (name, persist) => {
    let store: SessionStore;
    let app: ReturnType<typeof flashApp>;
    let served: Served;
    const client = (jar = new CookieJar()) => ({ jar, client: trpcClient<ReturnType<typeof flashApp>['router']>(served.url, jar, 'single') });
    beforeAll(async () => {
      store = stores[name]!();
      app = flashApp(store, persist);
      served = await serveStandalone(app.router, app.sessions.createContext);
    });
    afterAll(async () => {
      await served.close();
      await store.close();
    });

    test('a flash value set in one request is taken in the next, once', async () => {
      const { client: browser } = client();
      const id = await browser.add.mutate('beans');
      await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
      expect(await browser.notice.query()).toBe('Added beans to your basket');
      expect(await browser.notice.query()).toBeNull();
      expect(await browser.cart.query()).toEqual(['beans']);
      expect(await stored(store, id, 'notice')).toBe(false);
      expect(app.errors).toEqual([]);
    });

    test(`exactly one of ${READERS} concurrent requests, each holding the value it loaded, takes it (${ROUNDS} rounds)`, async () => {
      const winners: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const { client: browser } = client();
        const id = await browser.add.mutate(`item-${round}`);
        await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
        app.loaded.arm(READERS);
        const taken = await Promise.all(Array.from({ length: READERS }, () => browser.raceNotice.query()));
        winners.push(taken.filter((value) => value === `Added item-${round} to your basket`).length);
        expect(taken.filter((value) => value !== null && value !== `Added item-${round} to your basket`)).toEqual([]);
      }
      const roundsByWinners: Record<number, number> = {};
      for (const count of winners) roundsByWinners[count] = (roundsByWinners[count] ?? 0) + 1;
      expect(roundsByWinners, 'rounds by how many readers got the value').toEqual({ 1: ROUNDS });
      expect(app.errors).toEqual([]);
    }, 180_000);

    test('a request that takes one value leaves the others; one that takes none leaves them all', async () => {
      const { client: browser } = client();
      const id = await browser.add.mutate('tea');
      await browser.formError.mutate('is taken');
      await eventually(async () => expect(await stored(store, id, 'formError')).toBe(true));
      expect(await browser.cart.query()).toEqual(['tea']);
      expect(await browser.takeFormError.query()).toEqual({ field: 'email', message: 'is taken' });
      expect(await stored(store, id, 'notice')).toBe(true);
      expect(await browser.notice.query()).toBe('Added tea to your basket');
      expect(await browser.takeFormError.query()).toBeNull();
    });

    test('a flash value set at login, with regenerate(), is there after the redirect; one set before it survives it too', async () => {
      const { client: browser } = client();
      const first = await browser.formError.mutate('try again');
      await eventually(async () => expect(await stored(store, first, 'formError')).toBe(true));
      const id = await browser.login.mutate('Ada');
      expect(id).not.toBe(first);
      await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
      expect(await browser.notice.query()).toBe('Welcome back, Ada');
      expect(await browser.takeFormError.query()).toEqual({ field: 'email', message: 'try again' });
      expect(await browser.notice.query()).toBeNull();
      expect(app.errors).toEqual([]);
    });

    test('a flash value set and taken in one request is never written', async () => {
      const { client: browser } = client();
      const id = await browser.add.mutate('rice');
      await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
      expect(await browser.setAndTake.mutate('mine')).toBe('mine');
      // The stored notice was taken with it: the one this request set replaced it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await browser.notice.query()).toBeNull();
    });

    test('destroy() ends the flash values with the session', async () => {
      const { client: browser } = client();
      const id = await browser.add.mutate('salt');
      await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
      await browser.logout.mutate();
      expect(await browser.notice.query()).toBeNull();
      expect(await stored(store, id, 'notice')).toBe(false);
    });

    test('flash values are validated and count towards maxSize', async () => {
      const { client: browser } = client();
      expect(await browser.setNotice.mutate(42)).toBe('SessionValidationError');
      expect(await browser.setNotice.mutate('x'.repeat(MAX_SIZE))).toBe('SessionTooLargeError');
      expect(await browser.setNotice.mutate('fits')).toBe('set');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await browser.notice.query()).toBe('fits');
    });
  },
);

describe.each(Object.keys(stores))('%s store: a take racing a move, an end, a deploy', (name) => {
  let store: SessionStore;
  beforeAll(() => {
    store = stores[name]!();
  });
  afterAll(() => store.close());

  /** A session written with a notice; resolves to its ID. */
  async function withNotice(sessions: ReturnType<typeof createSessionManager<typeof schema, 'session', typeof flash>>) {
    const request = requestFor();
    const session = await handleFor(sessions, request.transport).start();
    session.flash.set('notice', 'hello');
    await request.end();
    return session.id;
  }

  test('a request that loaded the value before another moved the session gets undefined; the moved session keeps it', async () => {
    const sessions = createSessionManager({ schema, flash, store });
    const id = await withNotice(sessions);
    const late = (await handleFor(sessions, requestFor(id).transport).load())!;
    const moved = await handleFor(sessions, requestFor(id).transport).regenerate();
    expect(await late.flash.take('notice')).toBeUndefined();
    const after = (await handleFor(sessions, requestFor(moved.id).transport).load())!;
    expect(await after.flash.take('notice')).toBe('hello');
  });

  test(`a take while the same request regenerates the session gets the value, and the moved session no longer has it (${ROUNDS} rounds)`, async () => {
    const sessions = createSessionManager({ schema, flash, store });
    const outcomes = { taken: 0, missedButKept: 0, other: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const id = await withNotice(sessions);
      const request = requestFor(id);
      const handle = handleFor(sessions, request.transport);
      const session = (await handle.load())!;
      const moving = handle.regenerate();
      // The take lands at some point of the move: before it, while its new record is written, or after.
      for (let turn = round % 12; turn > 0; turn--) await new Promise((resolve) => setImmediate(resolve));
      const taken = await session.flash.take('notice');
      const moved = await moving;
      await request.end();
      const kept = await stored(store, moved.id, 'notice');
      if (taken === 'hello' && !kept) outcomes.taken++;
      else if (taken === undefined && kept) outcomes.missedButKept++;
      else outcomes.other++;
    }
    expect(outcomes).toEqual({ taken: ROUNDS, missedButKept: 0, other: 0 });
  });

  test('a request that loaded the value before another destroyed the session gets undefined', async () => {
    const sessions = createSessionManager({ schema, flash, store });
    const id = await withNotice(sessions);
    const late = (await handleFor(sessions, requestFor(id).transport).load())!;
    await handleFor(sessions, requestFor(id).transport).destroy();
    expect(await late.flash.take('notice')).toBeUndefined();
  });

  test('after a deploy changes the flash schema, a stored value it no longer has or accepts is dropped and reported', async () => {
    const before = createSessionManager({ schema, flash: flash.extend({ banner: z.string() }), store });
    const request = requestFor();
    const written = await handleFor(before, request.transport).start();
    written.flash.set('notice', 'hello');
    written.flash.set('banner', 'sale');
    await request.end();
    const errors: SessionError[] = [];
    const after = createSessionManager({ schema, flash: z.object({ notice: z.number() }), store, onError: (error) => errors.push(error) });
    const reader = requestFor(written.id);
    const session = (await handleFor(after, reader.transport).load())!;
    expect(errors.map((error) => [error.constructor, (error as SessionFieldDroppedError).field])).toEqual([[SessionFieldDroppedError, 'banner']]);
    expect(await session.flash.take('notice')).toBeUndefined();
    expect(errors.map((error) => (error as SessionFieldDroppedError).field)).toEqual(['banner', 'notice']);
    expect(errors.map((error) => error.message).join('\n')).not.toContain('hello');
    // The value that no longer fits was taken out; the stale one goes with the next write.
    session.data.put('userId', 'u-1');
    await reader.end();
    expect(await stored(store, written.id, 'notice')).toBe(false);
    expect(await stored(store, written.id, 'banner')).toBe(false);
  });

  test('a stored value the flash schema no longer has is reported once, though regenerate() takes the record again', async () => {
    const before = createSessionManager({ schema, flash: flash.extend({ banner: z.string() }), store });
    const request = requestFor();
    const written = await handleFor(before, request.transport).start();
    written.flash.set('notice', 'hello');
    written.flash.set('banner', 'sale');
    await request.end();
    const errors: SessionError[] = [];
    const after = createSessionManager({ schema, flash, store, onError: (error) => errors.push(error) });
    const reader = requestFor(written.id);
    const handle = handleFor(after, reader.transport);
    await handle.load();
    const moved = await handle.regenerate();
    await reader.end();
    expect(errors.map((error) => [error.constructor, (error as SessionFieldDroppedError).field])).toEqual([[SessionFieldDroppedError, 'banner']]);
    expect(await stored(store, moved.id, 'notice')).toBe(true);
    expect(await stored(store, moved.id, 'banner')).toBe(false);
  });
});

describe('the Redis commands of flash values', () => {
  let store: SessionStore;
  let app: ReturnType<typeof flashApp>;
  let served: Served;
  beforeAll(async () => {
    store = stores['redis']!();
    app = flashApp(store, 'after-response');
    served = await serveStandalone(app.router, app.sessions.createContext);
  });
  afterAll(async () => {
    await served.close();
    await store.close();
  });

  test('setting one rides in the write; taking one is one script; a read without one sends nothing more', async () => {
    const jar = new CookieJar();
    const browser = trpcClient<ReturnType<typeof flashApp>['router']>(served.url, jar, 'single');
    const id = await browser.add.mutate('warm-up'); // loads the write and compare-and-set scripts
    await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));
    await browser.notice.query();
    await browser.add.mutate('beans');
    await eventually(async () => expect(await stored(store, id, 'notice')).toBe(true));

    await redis().resetStats();
    expect(await browser.cart.query()).toEqual(['warm-up', 'beans']);
    expect(await sessionCommands(redis()), 'a read that takes no flash value: one HGETALL').toEqual({ hgetall: 1 });

    await redis().resetStats();
    expect(await browser.notice.query()).toBe('Added beans to your basket');
    expect(await sessionCommands(redis()), 'taking one: the read and one compare-and-delete script').toEqual({
      hgetall: 1,
      evalsha: 1,
      exists: 1,
      hmget: 1, // the tokens of the record's last changes (a resent take answers as its first run) and its version
      hget: 1,
      hdel: 1,
      hset: 1,
    });

    await redis().resetStats();
    expect(await browser.notice.query()).toBeNull();
    expect(await sessionCommands(redis()), 'taking one that is not there: the read only').toEqual({ hgetall: 1 });

    await redis().resetStats();
    await browser.add.mutate('tea');
    await eventually(async () => expect((await sessionCommands(redis()))['evalsha']).toBe(1));
    const write = await sessionCommands(redis());
    expect(write, 'setting one: the read and the one write script, which carries it').toMatchObject({ hgetall: 1, evalsha: 1, hmget: 1, hset: 1 });
    expect(Object.keys(write).filter((command) => !['hgetall', 'evalsha', 'hmget', 'hset', 'hstrlen', 'hkeys'].includes(command))).toEqual([]);
  });
});

describe('the flash option', () => {
  const store = () => stores['memory']!();

  test('a flash that is not a zod object schema, or that transforms, is refused at start-up, naming it', () => {
    expect(() => createSessionManager({ schema, flash: 'notice' as never, store: store() })).toThrow(
      new TypeError('trpc-session: `flash` must be a zod object schema, such as z.object({ ... })'),
    );
    expect(() => createSessionManager({ schema, flash: z.object({ notice: z.string().transform((text) => text.trim()) }), store: store() })).toThrow(
      /flash field "notice" has a transform/,
    );
  });

  test('a schema field whose name starts with flash: is refused at start-up: the name is reserved for flash values', () => {
    expect(() => createSessionManager({ schema: z.object({ 'flash:notice': z.string().optional() }), store: store() })).toThrow(
      /session field "flash:notice" starts with "flash:"/,
    );
  });
});
