import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { initTRPC } from '@trpc/server';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { parse as parseCookies } from 'cookie';
import { afterAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { fetchSessionHandler } from '../src/adapters/fetch.js';
import { nextActionContext, type NextCookieStore } from '../src/adapters/next.js';
import { createCallerContext, createSessionManager, memoryStore, redisStore, type PersistMode, type SessionContext, type SessionError } from '../src/index.js';
import { CookieJar, listen, trpcClient, type Served } from './helpers/http.js';
import { useRedis } from './helpers/transport-contract.js';

/*
 * An app whose context already has `session` (create-t3-app's NextAuth session, here read from the app's own
 * `user` cookie) and keeps trpc-session's handle under `contextKey: 'basket'`, over real HTTP and Redis.
 */

const schema = z.object({ cart: z.array(z.string()).default([]) });

/** The app's own session, as NextAuth puts it in the context: a fresh object per request. */
type AppSession = { user: { name: string } } | null;

function appSession(cookieHeader: string | null | undefined): AppSession {
  const name = parseCookies(cookieHeader ?? '')['user'];
  return name === undefined ? null : { user: { name } };
}

type Context = SessionContext<typeof schema, 'basket'> & { session: AppSession };

function createApp(persist: PersistMode) {
  const errors: SessionError[] = [];
  const sessions = createSessionManager({ schema, store: redisStore({ redis: redis.client }), contextKey: 'basket', persist, onError: (error) => errors.push(error) });
  const t = initTRPC.context<Context>().create();
  // With 'before-response', the write goes through the procedure, which must find the handle under `basket`.
  const procedure = t.procedure.concat(sessions.procedure);
  /** What every procedure returns of the app's own `session`, and whether `basket` is the handle. */
  const seen = (ctx: Context) => ({ session: ctx.session, handle: typeof ctx.basket.start === 'function' });
  const router = t.router({
    whoami: procedure.query(({ ctx }) => seen(ctx)),
    add: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const basket = await ctx.basket.start();
      basket.data.put('cart', [...basket.data.get('cart'), input]);
      return { ...seen(ctx), id: basket.id, cart: basket.data.get('cart') };
    }),
    read: procedure.query(async ({ ctx }) => {
      const basket = await ctx.basket.load();
      return { ...seen(ctx), basket: basket && { id: basket.id, cart: basket.data.get('cart') } };
    }),
    login: procedure.mutation(async ({ ctx }) => {
      const basket = await ctx.basket.regenerate();
      return { ...seen(ctx), id: basket.id };
    }),
    logout: procedure.mutation(async ({ ctx }) => {
      await ctx.basket.destroy();
      return seen(ctx);
    }),
  });
  return { sessions, router, errors };
}

type App = ReturnType<typeof createApp>;
type AppRouter = App['router'];

const redis = useRedis();
const servers: Served[] = [];
afterAll(() => Promise.all(servers.map((served) => served.close())));

const adapters = {
  /** `fetchSessionHandler` on Hono's Node server: the app's createContext gets `basket` and returns `session`. */
  fetch: ({ sessions, router }: App) =>
    listen(
      createAdaptorServer({
        fetch: (req: Request) =>
          fetchSessionHandler(sessions, {
            endpoint: '/',
            req,
            router,
            createContext: ({ req: request, basket }) => {
              expect(typeof basket.load).toBe('function');
              return { session: appSession(request.headers.get('cookie')) };
            },
          }),
      }) as Server,
    ),
  /** tRPC's standalone adapter: `sessions.createContext` spread beside the app's `session`. */
  'node-http': ({ sessions, router }: App) =>
    listen(
      createHTTPServer({
        router,
        createContext: (opts: CreateHTTPContextOptions) => ({ ...sessions.createContext(opts), session: appSession(opts.req.headers.cookie) }),
      }),
    ),
};

describe.each(Object.entries(adapters).flatMap(([name, serve]) => (['after-response', 'before-response'] as const).map((persist) => [name, persist, serve] as const)))(
  '%s, %s',
  (_name, persist, serve) => {
    test("the app's `session` and the handle under `basket` both reach the procedures; the session starts, reads back, regenerates and ends", async () => {
      const app = createApp(persist);
      const served = await serve(app);
      servers.push(served);
      const jar = new CookieJar();
      const client = trpcClient<AppRouter>(served.url, jar);

      // Signed out: the app's session is null, and nothing is started.
      expect(await client.whoami.query()).toEqual({ session: null, handle: true });
      expect(await client.read.query()).toEqual({ session: null, handle: true, basket: null });
      expect(jar.received).toEqual([]);

      // The app's own cookie makes its own session; trpc-session's handle is beside it, under `basket`.
      jar.cookies.set('user', 'ada');
      const ada = { user: { name: 'ada' } };
      const added = await client.add.mutate('beans');
      expect(added).toMatchObject({ session: ada, handle: true, cart: ['beans'] });
      const sid = jar.cookies.get('sid');
      expect(sid).toBe(added.id);
      expect(jar.cookies.get('user')).toBe('ada');
      expect(await client.add.mutate('mug')).toMatchObject({ session: ada, cart: ['beans', 'mug'] });
      expect(await client.read.query()).toEqual({ session: ada, handle: true, basket: { id: sid, cart: ['beans', 'mug'] } });
      expect(await redis.inspect.exists(`session:${sid}`)).toBe(1);

      // A batch: the app's session reaches each call, and the calls share one handle.
      const [read, who] = await Promise.all([client.read.query(), client.whoami.query()]);
      expect(read.basket?.cart).toEqual(['beans', 'mug']);
      expect(who).toEqual({ session: ada, handle: true });

      // Regenerate: a new ID, the same basket, the old record gone; the app's session untouched.
      const login = await client.login.mutate();
      expect(login).toMatchObject({ session: ada, handle: true });
      expect(login.id).not.toBe(sid);
      expect(jar.cookies.get('sid')).toBe(login.id);
      expect(await redis.inspect.type(`session:${sid}`)).toBe('string'); // no record at the old ID: only the moved mark
      expect(await client.read.query()).toEqual({ session: ada, handle: true, basket: { id: login.id, cart: ['beans', 'mug'] } });

      // Destroy: the record removed and the cookie expired; the app's own cookie and session stay.
      expect(await client.logout.mutate()).toEqual({ session: ada, handle: true });
      expect(jar.received.at(-1)).toMatchObject({ name: 'sid', value: '', maxAge: 0 });
      expect(await redis.inspect.get(`session:${login.id}`)).toMatch(/^trpc-session:revoked\n/); // no record: the logout's mark
      expect(jar.cookies.get('user')).toBe('ada');
      expect(await client.read.query()).toEqual({ session: ada, handle: true, basket: null });
      expect(jar.received.every((cookie) => cookie.name === 'sid')).toBe(true);
      expect(app.errors).toEqual([]);
    });
  },
);

test('server-side callers (createCallerContext, trpc-session/next) put the handle under `basket` beside the app\'s `session`', async () => {
  const { sessions, router, errors } = createApp('after-response');
  const ada = { user: { name: 'ada' } };
  let cookie: string | undefined;
  const caller = () =>
    router.createCaller({
      ...createCallerContext(sessions, { cookie, setCookie: (header) => (cookie = parseCookies(header)['sid'] || undefined) }),
      session: ada,
    });
  const added = await caller().add('beans');
  expect(added).toMatchObject({ session: ada, handle: true, cart: ['beans'] });
  expect(cookie).toBe(added.id);
  expect(await caller().read()).toEqual({ session: ada, handle: true, basket: { id: added.id, cart: ['beans'] } });

  // Next.js's cookie store, as `await cookies()` gives it to a server action.
  const jar = new Map<string, string>([['sid', cookie!]]);
  const store: NextCookieStore = { get: (name) => (jar.has(name) ? { value: jar.get(name)! } : undefined), set: ({ name, value }) => jar.set(name, value) };
  const action = router.createCaller({ ...nextActionContext(sessions, store, new Headers()), session: ada });
  const login = await action.login();
  expect(jar.get('sid')).toBe(login.id);
  expect(await router.createCaller({ ...nextActionContext(sessions, store, new Headers()), session: null }).read()).toEqual({
    session: null,
    handle: true,
    basket: { id: login.id, cart: ['beans'] },
  });
  expect(errors).toEqual([]);
});

test('contextKey is checked at start-up: a TypeError naming it', () => {
  const store = memoryStore();
  for (const contextKey of [1, '', null, 'req', 'res', 'resHeaders', 'info', '__proto__', 'constructor', 'toString']) {
    expect(() => createSessionManager({ schema, store, contextKey: contextKey as never }), String(contextKey)).toThrow(TypeError);
    expect(() => createSessionManager({ schema, store, contextKey: contextKey as never }), String(contextKey)).toThrow(/contextKey/);
  }
  expect(createSessionManager({ schema, store }).createContext()).toHaveProperty('session');
  expect(Object.keys(createSessionManager({ schema, store, contextKey: 'visit' }).createContext())).toEqual(['visit']);
});
