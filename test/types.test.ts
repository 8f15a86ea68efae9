import { initTRPC } from '@trpc/server';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import type { CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import type { Cluster, Redis } from 'ioredis';
import type { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6';
import { expect, expectTypeOf, test } from 'vitest';
import * as z from 'zod';
import { createFastifyContext } from '../src/adapters/fastify.js';
import { fetchSessionHandler } from '../src/adapters/fetch.js';
import { createWSContext } from '../src/adapters/ws.js';
import {
  createCallerContext,
  createRedisConnections,
  createSessionManager,
  memoryStore,
  redisStore,
  type DeviceInfo,
  type RedisClient,
  type Session,
  type SessionContext,
  type SessionData,
  type SessionEvent,
  type SessionHandle,
  type SessionMigration,
  type SessionMigrations,
  type SessionStoreHealth,
  type StoredSessionFields,
} from '../src/index.js';

// These assertions are checked by `tsc --noEmit`, the first half of `npm test`; the test below only
// records that they compiled.
const item = z.object({ productId: z.string(), quantity: z.number().int() });
const schema = z.object({
  cart: z.array(item).default([]),
  userId: z.string().optional(),
  seenAt: z.date().optional(),
  visits: z.number().default(0),
  nickname: z.string().nullable().optional(),
  prefs: z.object({ theme: z.enum(['light', 'dark']).default('light') }).default({ theme: 'light' }),
  // A bare .catch() accepts absence too: it stands in for whatever is missing or invalid.
  locale: z.enum(['en', 'fr']).catch('en'),
});
const sessions = createSessionManager({ schema, store: memoryStore() });

const createContext = (opts: CreateHTTPContextOptions) => ({ ...sessions.createContext(opts), db: { name: 'db' } });
const t = initTRPC.context<typeof createContext>().create();

export const router = t.router({
  inferred: t.procedure.query(async ({ ctx }) => {
    expectTypeOf(ctx.session).toEqualTypeOf<SessionHandle<typeof schema>>();
    expectTypeOf(ctx.db).toEqualTypeOf<{ name: string }>();
    const session = await ctx.session.start();
    expectTypeOf(session).toEqualTypeOf<Session<typeof schema>>();
    expectTypeOf(await ctx.session.load()).toEqualTypeOf<Session<typeof schema> | null>();
    expectTypeOf(ctx.session.regenerate({ lifespan: 30 * 24 * 3600 })).toEqualTypeOf<Promise<Session<typeof schema>>>();
    void ctx.session.regenerate({ lifespan: 'browser' });
    // @ts-expect-error a lifespan is seconds or 'browser'
    void ctx.session.regenerate({ lifespan: '30d' });

    expectTypeOf(session.data.get('cart')).toEqualTypeOf<{ productId: string; quantity: number }[]>();
    expectTypeOf(session.data.get('userId')).toEqualTypeOf<string | undefined>();
    expectTypeOf(session.data.get('seenAt')).toEqualTypeOf<Date | undefined>();
    expectTypeOf(session.data.get('visits')).toEqualTypeOf<number>();
    expectTypeOf(session.data.all()).toEqualTypeOf<{
      cart: { productId: string; quantity: number }[];
      userId?: string | undefined;
      seenAt?: Date | undefined;
      visits: number;
      nickname?: string | null | undefined;
      prefs: { theme: 'light' | 'dark' };
      locale: 'en' | 'fr';
    }>();
    expectTypeOf(session.data.update('visits', (visits) => visits + 1)).toEqualTypeOf<Promise<number>>();

    session.data.put('cart', [{ productId: 'p1', quantity: 1 }]);
    session.data.put('userId', 'u1');
    // @ts-expect-error unknown key
    session.data.get('nope');
    // @ts-expect-error unknown key
    session.data.put('nope', 1);
    // @ts-expect-error wrong value type
    session.data.put('visits', 'many');
    // @ts-expect-error wrong element shape
    session.data.put('cart', [{ productId: 1, quantity: 1 }]);
    // @ts-expect-error update must return the field's type
    void session.data.update('visits', () => 'x');
    // @ts-expect-error unknown key
    session.data.has('nope');
    // @ts-expect-error unknown key
    session.data.delete('nope');
    // @ts-expect-error unknown key
    void session.data.update('nope', () => 1);
    expectTypeOf(session.data.get('nickname')).toEqualTypeOf<string | null | undefined>();
    session.data.put('nickname', null);
    expectTypeOf(session.data.get('prefs')).toEqualTypeOf<{ theme: 'light' | 'dark' }>();
    // put takes the schema's input: inner defaults may be left out
    session.data.put('prefs', {});
    // @ts-expect-error not one of the enum's values
    session.data.put('prefs', { theme: 'blue' });
    expectTypeOf(session.data.get('locale')).toEqualTypeOf<'en' | 'fr'>();
    session.data.put('locale', 'fr');
    // @ts-expect-error not one of the enum's values
    session.data.put('locale', 'de');
    return session.data.get('cart');
  }),
});

// A schema with a field that a new, empty session would lack is a type error (and a start-up error, so
// this is only compiled, never called).
export const invalidSchema = () =>
  createSessionManager({
    // @ts-expect-error `cart` has neither .optional() nor .default()
    schema: z.object({ cart: z.array(item) }),
    store: memoryStore(),
  });
export const invalidAmongValidFields = () =>
  createSessionManager({
    // @ts-expect-error `visits` has neither .optional(), .default() nor .catch(); the others do
    schema: z.object({ locale: z.string().catch('en'), visits: z.number(), userId: z.string().optional() }),
    store: memoryStore(),
  });

test('session types are inferred from the schema (checked by tsc)', () => {
  expectTypeOf(sessions.createContext).returns.toEqualTypeOf<{ session: SessionHandle<typeof schema> }>();
});

// ---- createContext composition on every adapter, and sessions.procedure (checked by tsc) ----

const db = { name: 'db' };
const dbContext = async (opts: FetchCreateContextFnOptions & SessionContext<typeof schema>) => {
  expectTypeOf(opts.session).toEqualTypeOf<SessionHandle<typeof schema>>();
  return { db };
};
const withDb = initTRPC.context<SessionContext<typeof schema> & { db: typeof db }>().create();
const dbProcedure = withDb.procedure.concat(sessions.procedure);
export const dbRouter = withDb.router({
  read: dbProcedure.query(({ ctx }) => {
    // concat keeps the app's context, and the session's type.
    expectTypeOf(ctx.session).toEqualTypeOf<SessionHandle<typeof schema>>();
    expectTypeOf(ctx.db).toEqualTypeOf<{ name: string }>();
    return ctx.db.name;
  }),
  // A concat'ed procedure takes any input parser, on every @trpc/server 11.x (11.0 to 11.19 refused one when
  // the package's declarations named tRPC's builder type, whose type parameters changed in 11.20).
  greet: dbProcedure.input(z.string()).query(({ input, ctx }) => {
    expectTypeOf(input).toEqualTypeOf<string>();
    expectTypeOf(ctx.session).toEqualTypeOf<SessionHandle<typeof schema>>();
    return input;
  }),
  rename: dbProcedure.input(z.object({ name: z.string() })).mutation(({ input }) => input.name),
});
const sessionOnly = initTRPC.context<SessionContext<typeof schema>>().create();
export const sessionOnlyRouter = sessionOnly.router({ read: sessionOnly.procedure.concat(sessions.procedure).query(() => 1) });

export const fetchHandlers = (req: Request) => [
  // Your createContext gets `session`, typed, and returns the rest of the context.
  fetchSessionHandler(sessions, {
    endpoint: '/trpc',
    req,
    router: dbRouter,
    createContext: ({ session, req: request }) => {
      expectTypeOf(session).toEqualTypeOf<SessionHandle<typeof schema>>();
      expectTypeOf(request).toEqualTypeOf<Request>();
      return { db };
    },
  }),
  fetchSessionHandler(sessions, { endpoint: '/trpc', req, router: dbRouter, createContext: dbContext }),
  // A router that needs nothing but `session` needs no createContext.
  fetchSessionHandler(sessions, { endpoint: '/trpc', req, router: sessionOnlyRouter }),
  // @ts-expect-error the router needs `db`: createContext is required
  fetchSessionHandler(sessions, { endpoint: '/trpc', req, router: dbRouter }),
  fetchSessionHandler(sessions, {
    endpoint: '/trpc',
    req,
    router: dbRouter,
    // @ts-expect-error createContext must return what the router needs
    createContext: () => ({ database: db }),
  }),
];

export const nodeHTTPServer = () =>
  createHTTPServer({ router: dbRouter, createContext: (opts: CreateHTTPContextOptions) => ({ ...sessions.createContext(opts), db }) });
// Forgetting the session's context is refused: in JavaScript, the procedure would read `ctx.session` as undefined.
export const missingSessionContexts = () => [
  // @ts-expect-error the router needs `session`: createContext is required
  createHTTPServer({ router: sessionOnlyRouter }),
  // @ts-expect-error createContext must spread sessions.createContext(opts) into what it returns
  createHTTPServer({ router: dbRouter, createContext: () => ({ db }) }),
];
export const fastifyContext = (opts: CreateFastifyContextOptions) => ({ ...createFastifyContext(sessions)(opts), db });
export const wsContext = (opts: CreateWSSContextFnOptions) => ({ ...createWSContext(sessions)(opts), db });
export const callerOf = () => dbRouter.createCaller({ ...createCallerContext(sessions, { cookie: undefined }), db });

test('createContext composes on every adapter (checked by tsc)', () => {
  expectTypeOf(fastifyContext).returns.toEqualTypeOf<{ db: { name: string }; session: SessionHandle<typeof schema> }>();
  expectTypeOf(wsContext).returns.toEqualTypeOf<{ db: { name: string }; session: SessionHandle<typeof schema> }>();
  expectTypeOf(callerOf().read).returns.resolves.toEqualTypeOf<string>();
});

export const notConstructible = () => [
  // @ts-expect-error Session is a type: sessions come from ctx.session.start() or load()
  new Session(),
  // @ts-expect-error SessionHandle is a type: handles come from createContext
  new SessionHandle(),
  // @ts-expect-error SessionData is a type
  new SessionData(),
];

// ---- contextKey: the handle under a key of the app's choosing (checked by tsc) ----

/** The app's own `ctx.session`, as create-t3-app's NextAuth session. */
type Auth = { user: { id: string; name: string } } | null;
const auth = { user: { id: 'u1', name: 'Ada' } } as Auth;
const basketSessions = createSessionManager({ schema, store: memoryStore(), contextKey: 'basket' });
type BasketContext = SessionContext<typeof schema, 'basket'>;
const withAuth = initTRPC.context<BasketContext & { session: Auth }>().create();
const authProcedure = withAuth.procedure.concat(basketSessions.procedure);
export const authRouter = withAuth.router({
  add: authProcedure.mutation(async ({ ctx }) => {
    // concat reads the handle under `basket`, and keeps the app's `session` as it is.
    expectTypeOf(ctx.basket).toEqualTypeOf<SessionHandle<typeof schema>>();
    expectTypeOf(ctx.session).toEqualTypeOf<Auth>();
    const basket = await ctx.basket.start();
    expectTypeOf(basket).toEqualTypeOf<Session<typeof schema>>();
    expectTypeOf(basket.data.get('cart')).toEqualTypeOf<{ productId: string; quantity: number }[]>();
    return ctx.session?.user.name ?? null;
  }),
});
const basketOnly = initTRPC.context<BasketContext>().create();
export const basketOnlyRouter = basketOnly.router({ read: basketOnly.procedure.concat(basketSessions.procedure).query(({ ctx }) => ctx.basket.load()) });

export const invalidContextKeys = () => [
  // @ts-expect-error a procedure built for `basket` does not fit a context whose handle is under `session`
  withDb.procedure.concat(basketSessions.procedure),
  // @ts-expect-error `req` is what tRPC passes to createContext
  createSessionManager({ schema, store: memoryStore(), contextKey: 'req' }),
  // @ts-expect-error a string, not a number
  createSessionManager({ schema, store: memoryStore(), contextKey: 1 }),
];

export const basketFetchHandlers = (req: Request) => [
  fetchSessionHandler(basketSessions, {
    endpoint: '/trpc',
    req,
    router: authRouter,
    // Your createContext gets the handle under `basket`, and returns the rest: the app's own `session`.
    createContext: ({ basket, req: request }) => {
      expectTypeOf(basket).toEqualTypeOf<SessionHandle<typeof schema>>();
      expectTypeOf(request).toEqualTypeOf<Request>();
      return { session: auth };
    },
  }),
  // A router that needs nothing but the handle needs no createContext.
  fetchSessionHandler(basketSessions, { endpoint: '/trpc', req, router: basketOnlyRouter }),
  // @ts-expect-error the router needs `session` (the app's): createContext is required
  fetchSessionHandler(basketSessions, { endpoint: '/trpc', req, router: authRouter }),
  fetchSessionHandler(basketSessions, {
    endpoint: '/trpc',
    req,
    router: authRouter,
    // @ts-expect-error the handle is the library's to add: createContext returns the app's `session`
    createContext: ({ basket }) => ({ basket }),
  }),
];

export const basketNodeHTTPServer = () =>
  createHTTPServer({ router: authRouter, createContext: (opts: CreateHTTPContextOptions) => ({ ...basketSessions.createContext(opts), session: auth }) });
export const basketFastifyContext = (opts: CreateFastifyContextOptions) => ({ ...createFastifyContext(basketSessions)(opts), session: auth });
export const basketWSContext = (opts: CreateWSSContextFnOptions) => ({ ...createWSContext(basketSessions)(opts), session: auth });
export const basketCallerOf = () => authRouter.createCaller({ ...createCallerContext(basketSessions, { cookie: undefined }), session: auth });

test('contextKey puts the handle under its key on every adapter, leaving `session` to the app (checked by tsc)', () => {
  expectTypeOf(basketSessions.createContext).returns.toEqualTypeOf<{ basket: SessionHandle<typeof schema> }>();
  expectTypeOf(basketSessions.createContext).returns.toEqualTypeOf<BasketContext>();
  expectTypeOf(basketFastifyContext).returns.toEqualTypeOf<{ session: Auth; basket: SessionHandle<typeof schema> }>();
  expectTypeOf(basketWSContext).returns.toEqualTypeOf<{ session: Auth; basket: SessionHandle<typeof schema> }>();
  expectTypeOf(basketCallerOf().add).returns.resolves.toEqualTypeOf<string | null>();
  // The default stays `session`.
  expectTypeOf(sessions.createContext).returns.toEqualTypeOf<SessionContext<typeof schema>>();
});

test('migrations take and return a plain object of stored fields, keyed by version (checked by tsc)', () => {
  const migrations = {
    2: ({ cartItems, ...rest }) => {
      // Stored data is typed by no schema of today's: what a migration reads is `unknown`, until it checks it.
      expectTypeOf(cartItems).toEqualTypeOf<unknown>();
      return { ...rest, cart: cartItems };
    },
    3: (fields) => {
      delete fields.legacy;
      return fields;
    },
  } satisfies SessionMigrations;
  createSessionManager({ schema, store: memoryStore(), schemaVersion: 3, migrations });
  expectTypeOf(migrations[2]).toExtend<SessionMigration>();
  expectTypeOf<Parameters<SessionMigration>[0]>().toEqualTypeOf<StoredSessionFields>();
  expectTypeOf<StoredSessionFields>().toEqualTypeOf<Record<string, unknown>>();

  // Never called: what matters is that tsc refuses each (the last three fail at start-up too).
  const refused = () => [
    // @ts-expect-error a migration returns the migrated fields: one that returns nothing would remove them all
    createSessionManager({ schema, store: memoryStore(), schemaVersion: 2, migrations: { 2: (fields) => void delete fields.legacy } }),
    // @ts-expect-error migrations are synchronous: they run inside the load
    createSessionManager({ schema, store: memoryStore(), schemaVersion: 2, migrations: { 2: async (fields: StoredSessionFields) => fields } }),
    // @ts-expect-error a migration returns an object of fields, not a value
    createSessionManager({ schema, store: memoryStore(), schemaVersion: 2, migrations: { 2: () => 42 } }),
    // @ts-expect-error each migration is a function
    createSessionManager({ schema, store: memoryStore(), schemaVersion: 2, migrations: { 2: { cart: 'cartItems' } } }),
    // @ts-expect-error keys are the version numbers the migrations lead to
    createSessionManager({ schema, store: memoryStore(), schemaVersion: 2, migrations: { two: (fields: StoredSessionFields) => fields } }),
  ];
  expectTypeOf(refused).toBeFunction();
});

export const devices = async (session: Session<typeof schema>) => {
  await session.bindUser('ada', { device: { label: 'Laptop', userAgent: 'Firefox', ip: '::1' } });
  // @ts-expect-error a device part is a string
  await session.bindUser('ada', { device: { label: 42 } });
  // @ts-expect-error a device has only its three parts: never the session ID
  await session.bindUser('ada', { device: { sessionId: session.id } });
  const listed = await sessions.userSessions('ada', { current: session });
  await sessions.userSessions('ada', { limit: 10 });
  // @ts-expect-error a listing's limit is a number of sessions
  await sessions.userSessions('ada', { limit: '10' });
  const ended: [boolean, number] = [await sessions.revokeSession('ada', listed[0]!.ref), await sessions.revokeOtherSessions(session)];
  // @ts-expect-error revokeOtherSessions keeps a session, not an ID
  await sessions.revokeOtherSessions(session.id);
  return { listed, ended };
};

test('devices: bindUser takes a typed device, userSessions lists it with current (checked by tsc)', () => {
  expectTypeOf(devices).returns.resolves.toMatchTypeOf<{
    listed: { ref: string; createdAt: Date; lastUsedAt: Date; device: DeviceInfo | null; current: boolean }[];
  }>();
  expectTypeOf<DeviceInfo>().toEqualTypeOf<{ label?: string; userAgent?: string; ip?: string }>();
});

// ---- flash values, typed by the `flash` schema, on every adapter (checked by tsc) ----

const flashSchema = z.object({ notice: z.string(), formError: z.object({ field: z.string(), message: z.string() }), count: z.number().default(1) });
const flashSessions = createSessionManager({ schema, flash: flashSchema, store: memoryStore() });
type FlashContext = SessionContext<typeof schema, 'session', typeof flashSchema>;
const withFlash = initTRPC.context<FlashContext>().create();
export const flashRouter = withFlash.router({
  take: withFlash.procedure.concat(flashSessions.procedure).query(async ({ ctx }) => {
    const session = await ctx.session.start();
    expectTypeOf(session).toEqualTypeOf<Session<typeof schema, typeof flashSchema>>();
    expectTypeOf(session.flash.take('notice')).toEqualTypeOf<Promise<string | undefined>>();
    expectTypeOf(session.flash.take('formError')).toEqualTypeOf<Promise<{ field: string; message: string } | undefined>>();
    // take gives the schema's output; set takes its input.
    expectTypeOf(session.flash.take('count')).toEqualTypeOf<Promise<number | undefined>>();
    session.flash.set('count', undefined);
    session.flash.set('notice', 'Added to your basket');
    // @ts-expect-error wrong value type
    session.flash.set('notice', 1);
    // @ts-expect-error a flash value must be given: only `count` has a default
    session.flash.set('notice', undefined);
    // @ts-expect-error unknown flash name
    void session.flash.take('nope');
    // @ts-expect-error data fields are not flash values
    void session.flash.take('cart');
    return session.flash.take('notice');
  }),
});

export const noFlash = async (handle: SessionHandle<typeof schema>) => {
  const session = await handle.start();
  // @ts-expect-error a manager without `flash` has no flash values
  void session.flash.take('notice');
};

test('flash values are typed by the flash schema, on every adapter (checked by tsc)', () => {
  expectTypeOf(flashSessions.createContext).returns.toEqualTypeOf<FlashContext>();
  expectTypeOf(createFastifyContext(flashSessions)).returns.toEqualTypeOf<FlashContext>();
  expectTypeOf(createWSContext(flashSessions)).returns.toEqualTypeOf<FlashContext>();
  expectTypeOf(createCallerContext(flashSessions, { cookie: undefined })).toEqualTypeOf<FlashContext>();
  expectTypeOf(flashRouter.createCaller({} as FlashContext).take).returns.resolves.toEqualTypeOf<string | undefined>();
  const handler = (req: Request) =>
    fetchSessionHandler(flashSessions, {
    endpoint: '/trpc',
    req,
    router: flashRouter,
    createContext: ({ session }) => {
      expectTypeOf(session).toEqualTypeOf<SessionHandle<typeof schema, typeof flashSchema>>();
      return {};
    },
  });
  expectTypeOf(handler).returns.resolves.toEqualTypeOf<Response>();
});

test('onEvent receives events of five types, by ref (checked by tsc)', () => {
  createSessionManager({
    schema,
    store: memoryStore(),
    onEvent: (event: SessionEvent) => {
      expectTypeOf(event.type).toEqualTypeOf<'created' | 'regenerated' | 'destroyed' | 'revoked' | 'expired'>();
      expectTypeOf(event.ref).toEqualTypeOf<string>();
      expectTypeOf(event.userId).toEqualTypeOf<string | null>();
      expectTypeOf(event.at).toEqualTypeOf<Date>();
      // @ts-expect-error events never carry the session ID
      void event.id;
    },
  });
  // An async hook is fine: its rejection goes to onError.
  createSessionManager({ schema, store: memoryStore(), onEvent: async () => {} });
});

test('health() resolves to ok with a latency, or not ok with a reason; trustedOrigins takes origins (checked by tsc)', async () => {
  const sessions = createSessionManager({ schema, store: memoryStore(), healthTimeout: 500, trustedOrigins: ['https://app.example.com'] });
  const health = await sessions.health();
  expectTypeOf(health).toEqualTypeOf<SessionStoreHealth>();
  if (health.ok) expectTypeOf(health.latencyMs).toEqualTypeOf<number>();
  else expectTypeOf(health.reason).toEqualTypeOf<string>();
  // A single string is refused by tsc, and at start-up.
  expect(() =>
    // @ts-expect-error trustedOrigins is a list of origins
    createSessionManager({ schema, store: memoryStore(), trustedOrigins: 'https://app.example.com' }),
  ).toThrow(TypeError);
});

test('redisStore and createRedisConnections take the clients of ioredis 5 and 6, typed without ioredis (checked by tsc)', () => {
  // The package's types describe a client structurally (see RedisClient), so they never load ioredis's own.
  expectTypeOf<Redis>().toExtend<RedisClient>();
  expectTypeOf<Cluster>().toExtend<RedisClient>();
  expectTypeOf<Redis6>().toExtend<RedisClient>();
  expectTypeOf<Cluster6>().toExtend<RedisClient>();
  const connections = createRedisConnections({
    sessions: { host: '127.0.0.1', port: 6379, enableAutoPipelining: false },
    sentinel: { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster', failoverDetector: true },
    cluster: { cluster: [{ host: '127.0.0.1', port: 7000 }, '127.0.0.1:7001'], scaleReads: 'slave' },
    own: () => ({}) as Redis6,
  });
  redisStore({ redis: connections.use('sessions') });
  redisStore({ redis: () => ({}) as Cluster });
  // @ts-expect-error not a Redis client
  redisStore({ redis: { get: () => null } });
  expectTypeOf<Awaited<ReturnType<typeof connections.get>>>().toEqualTypeOf<RedisClient>();
});
