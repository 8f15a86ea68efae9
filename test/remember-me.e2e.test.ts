import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { initTRPC } from '@trpc/server';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, type SessionManagerOptions, type SessionStore } from '../src/index.js';
import { eventually } from './helpers/fixture.js';
import { CookieJar, serveStandalone, trpcClient, type Served } from './helpers/http.js';
import { handleFor, requestFor, useStores } from './helpers/request.js';

const schema = z.object({ user: z.string().optional(), visits: z.number().default(0) });
const THIRTY_DAYS = 30 * 24 * 3600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function app(store: SessionStore, options: Partial<SessionManagerOptions<typeof schema>> = {}) {
  const sessions = createSessionManager({ schema, store, cookie: { lifespan: 60 }, touchAfter: 1, ...options });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const router = t.router({
    visit: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('visits', session.data.get('visits') + 1);
      return session.id;
    }),
    login: t.procedure.input(z.object({ remember: z.union([z.literal('browser'), z.number()]).optional() })).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate(input.remember === undefined ? undefined : { lifespan: input.remember });
      session.data.put('user', 'ada');
      return session.id;
    }),
    relogin: t.procedure.mutation(async ({ ctx }) => (await ctx.session.regenerate()).id),
    /** Writes the session at once: a create under way, when the session is new. An input as login's, so a batch runs both in step. */
    bind: t.procedure.input(z.object({})).mutation(async ({ ctx }) => {
      await (await ctx.session.start()).bindUser('ada');
      return true;
    }),
    read: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.id ?? null),
  });
  return { sessions, router };
}

const { stores, redis } = useStores();

describe.each(Object.keys(stores))('%s store', (name) => {
  let store: SessionStore;
  let inspect: Redis | undefined;
  const served: Served[] = [];
  beforeAll(() => {
    store = stores[name]!();
    if (name === 'redis') inspect = redis().client();
  });
  afterAll(async () => {
    for (const server of served) await server.close();
    inspect?.disconnect();
    await store.close();
  });

  async function serve(options: Partial<SessionManagerOptions<typeof schema>> = {}) {
    const { sessions, router } = app(store, options);
    const server = await serveStandalone(router, sessions.createContext);
    served.push(server);
    const jar = new CookieJar();
    return { client: trpcClient<typeof router>(server.url, jar), jar, sessions };
  }

  /** The record's time to live in ms, as the store has it; on Redis also the key's PTTL, which must agree. */
  async function ttl(id: string): Promise<number> {
    const now = Date.now();
    const loaded = await store.load(id, now);
    if (loaded.status !== 'found') return -1;
    const left = loaded.record.expiresAt - now;
    if (inspect !== undefined) {
      const pttl = await inspect.pttl(`session:${id}`);
      expect(Math.abs(pttl - left), 'PTTL and the expiry in the hash agree').toBeLessThan(1000);
    }
    return left;
  }
  const lastCookie = (jar: CookieJar) => jar.received.at(-1)!;

  test('remember me: the cookie and the record live 30 days, through a touch and a later regenerate()', async () => {
    const { client, jar } = await serve();
    await client.visit.mutate();
    const id = await client.login.mutate({ remember: THIRTY_DAYS });
    expect(lastCookie(jar)).toMatchObject({ name: 'sid', maxAge: THIRTY_DAYS });
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan((THIRTY_DAYS - 60) * 1000));
    // A touch (past touchAfter) refreshes to the session's own lifespan, not the manager's 60 s.
    await sleep(1100);
    const seen = jar.received.length;
    expect(await client.read.query()).toBe(id);
    expect(jar.received.length).toBe(seen + 1);
    expect(lastCookie(jar)).toMatchObject({ maxAge: THIRTY_DAYS });
    expect(await ttl(id)).toBeGreaterThan((THIRTY_DAYS - 60) * 1000);
    // regenerate() without a lifespan keeps the session's.
    const moved = await client.relogin.mutate();
    expect(moved).not.toBe(id);
    expect(lastCookie(jar)).toMatchObject({ maxAge: THIRTY_DAYS });
    expect(await ttl(moved)).toBeGreaterThan((THIRTY_DAYS - 60) * 1000);
  });

  test('a browser session: a cookie without Max-Age or Expires, the default lifespan on the server, kept through a touch and regenerate()', async () => {
    const { client, jar } = await serve();
    await client.visit.mutate();
    const id = await client.login.mutate({ remember: 'browser' });
    expect(lastCookie(jar)).toMatchObject({ name: 'sid', value: expect.any(String) });
    expect(lastCookie(jar).maxAge).toBeUndefined();
    expect(lastCookie(jar).expires).toBeUndefined();
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan(50_000));
    expect(await ttl(id)).toBeLessThanOrEqual(60_000);
    await sleep(1100);
    const seen = jar.received.length;
    expect(await client.read.query()).toBe(id);
    expect(jar.received.length).toBe(seen + 1);
    expect(lastCookie(jar).maxAge).toBeUndefined();
    expect(await ttl(id)).toBeGreaterThan(58_000);
    const moved = await client.relogin.mutate();
    expect(lastCookie(jar)).toMatchObject({ value: expect.any(String) });
    expect(lastCookie(jar).maxAge).toBeUndefined();
    expect(await ttl(moved)).toBeLessThanOrEqual(60_000);
  });

  test('the lifespan can be changed at the next login, and a first login without a session takes it too', async () => {
    const { client, jar } = await serve();
    // No session before the login: the new session takes the lifespan before its first write.
    const id = await client.login.mutate({ remember: THIRTY_DAYS });
    expect(lastCookie(jar)).toMatchObject({ maxAge: THIRTY_DAYS });
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan((THIRTY_DAYS - 60) * 1000));
    const browserId = await client.login.mutate({ remember: 'browser' });
    expect(lastCookie(jar).maxAge).toBeUndefined();
    await eventually(async () => expect(await ttl(browserId)).toBeGreaterThan(0));
    expect(await ttl(browserId)).toBeLessThanOrEqual(60_000);
    // Without a choice, a login keeps the manager's lifespan.
    const plain = await serve();
    await plain.client.login.mutate({});
    expect(lastCookie(plain.jar)).toMatchObject({ maxAge: 60 });
  });

  test('a first login in the batch of a call that creates the session meanwhile: the record takes the lifespan its cookie says', async () => {
    const { client, jar } = await serve();
    // The bind's create is under way when the login finds the session started: it carried the manager's lifespan.
    const [id] = await Promise.all([client.login.mutate({ remember: THIRTY_DAYS }), client.bind.mutate({})]);
    expect(lastCookie(jar)).toMatchObject({ value: id, maxAge: THIRTY_DAYS });
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan((THIRTY_DAYS - 60) * 1000));
    const loaded = await store.load(id, Date.now());
    expect(loaded.status === 'found' && [loaded.record.lifespan, loaded.record.userId]).toEqual([THIRTY_DAYS * 1000, 'ada']);
  });

  test('absoluteLifetime still caps a remembered session: its cookie and its record', async () => {
    const { client, jar } = await serve({ absoluteLifetime: 120 });
    await client.visit.mutate();
    const id = await client.login.mutate({ remember: THIRTY_DAYS });
    expect(lastCookie(jar).maxAge).toBeLessThanOrEqual(120);
    expect(lastCookie(jar).maxAge).toBeGreaterThan(100);
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan(0));
    expect(await ttl(id)).toBeLessThanOrEqual(120_000);
    await sleep(1100);
    await client.read.query();
    expect(lastCookie(jar).maxAge).toBeLessThanOrEqual(120);
    expect(await ttl(id)).toBeLessThanOrEqual(120_000);
  });

  test('a lifespan shorter than touchAfter is still extended by use: a session read every second outlives it', async () => {
    // touchAfter suits the manager's 60 s; the session's own 3 s must not wait 10 s for a refresh.
    const { client, jar } = await serve({ touchAfter: 10 });
    const id = await client.login.mutate({ remember: 3 });
    expect(lastCookie(jar)).toMatchObject({ maxAge: 3 });
    await eventually(async () => expect(await ttl(id)).toBeGreaterThan(0));
    for (let read = 0; read < 5; read++) {
      await sleep(1000);
      expect(await client.read.query(), `read ${read + 1}, a second after the one before`).toBe(id);
    }
    expect(lastCookie(jar)).toMatchObject({ maxAge: 3 });
  });

  test('a lifespan other than whole seconds (at least 1) or "browser" is a TypeError, and changes nothing', async () => {
    const { sessions } = app(store);
    for (const lifespan of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '30d', null]) {
      const request = requestFor();
      const handle = handleFor(sessions, request.transport);
      await expect(handle.regenerate({ lifespan } as never)).rejects.toThrow(TypeError);
      expect(request.cookies).toEqual([]);
    }
    await expect(handleFor(sessions, requestFor().transport).regenerate('browser' as never)).rejects.toThrow(TypeError);
  });
});

test("the README's example sets a 30-day cookie for a remembered login and one without Max-Age otherwise, each once", () => {
  const root = resolve(import.meta.dirname, '..');
  // tsx resolves `trpc-session` to the sources through tsconfig.json's paths, as tsc does.
  const printed = execFileSync(resolve(root, 'node_modules/.bin/tsx'), ['examples/remember-me.ts'], { cwd: root, encoding: 'utf8' });
  expect(printed.trim().split('\n')).toEqual(['sid=…; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax', 'sid=…; Path=/; HttpOnly; SameSite=Lax']);
}, 60_000);
