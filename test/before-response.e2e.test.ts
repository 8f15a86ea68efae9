import { createServer, type Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { initTRPC, type AnyTRPCRouter } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import express from 'express';
import Fastify from 'fastify';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFastifyContext } from '../src/adapters/fastify.js';
import { fetchSessionHandler } from '../src/adapters/fetch.js';
import { createSessionManager, redisStore, SessionStoreUnavailableError, type SessionContext, type SessionError } from '../src/index.js';
import { router as testRouter, schema, testManager, type TestRouter } from './helpers/app.js';
import { sessionCommands } from './helpers/fixture.js';
import { CookieJar, listen, trpcClient, type Served } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/*
 * persist: 'before-response' over real HTTP and a real Redis: a failed write fails the calls it belongs to
 * as ordinary tRPC errors, produced by tRPC, so they pass through the router's transformer and errorFormatter
 * and a batch of N calls gets N results; on every HTTP adapter.
 */

let redis: RedisServer;
let client: ReturnType<RedisServer['client']>;
let admin: ReturnType<RedisServer['client']>;
beforeAll(async () => {
  redis = await startRedis();
  client = redis.client({ maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  admin = redis.client();
});
afterAll(async () => {
  client.disconnect();
  admin.disconnect();
  await redis.stop(true);
});

function manager() {
  const errors: SessionError[] = [];
  const sessions = createSessionManager({
    schema,
    store: redisStore({ redis: client, commandTimeout: 300 }),
    persist: 'before-response',
    onError: (error) => errors.push(error),
  });
  return { sessions, errors };
}
type Sessions = ReturnType<typeof manager>['sessions'];

/** A create-t3-app-like router: superjson (or none), an errorFormatter that adds a field, procedures on `sessions.procedure`. */
function appRouter(sessions: Sessions, transformer: typeof superjson | undefined) {
  const t = initTRPC.context<SessionContext<typeof schema>>().create({
    transformer,
    errorFormatter: ({ shape }) => ({ ...shape, data: { ...shape.data, formattedBy: 'app' } }),
  });
  const procedure = t.procedure.concat(sessions.procedure);
  return t.router({
    increment: procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('counter', session.data.get('counter') + 1);
      // A Date survives only through superjson: proof that the answer went through the transformer.
      return { counter: session.data.get('counter'), at: new Date(0) };
    }),
    /** Not built on `sessions.procedure`: in 'before-response' mode its session refuses, naming the fix. */
    bare: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.id ?? null),
    ping: t.procedure.query(() => 'pong'),
  });
}

type Serve = (sessions: Sessions, router: AnyTRPCRouter) => Promise<Served>;

const adapters: Record<string, Serve> = {
  standalone: (sessions, router) => listen(createHTTPServer({ router, createContext: sessions.createContext })),
  Express: async (sessions, router) => {
    const app = express();
    app.use('/trpc', createExpressMiddleware({ router, createContext: sessions.createContext }));
    const served = await listen(createServer(app));
    return { ...served, url: `${served.url}/trpc` };
  },
  fastify: async (sessions, router) => {
    const app = Fastify({ forceCloseConnections: true });
    await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router, createContext: createFastifyContext(sessions) } });
    return { url: `${await app.listen({ port: 0, host: '127.0.0.1' })}/trpc`, close: () => app.close() };
  },
  fetch: (sessions, router) =>
    listen(createAdaptorServer({ fetch: (req: Request) => fetchSessionHandler(sessions, { endpoint: '/', req, router }) }) as Server),
};

/** A client of `url` over httpBatchLink with its own cookie jar; the router's types are the test's concern. */
function batchClient(url: string, transformer: typeof superjson | undefined) {
  const jar = new CookieJar();
  const link = httpBatchLink({ url, fetch: jar.fetch, transformer } as Parameters<typeof httpBatchLink>[0]);
  return createTRPCClient<ReturnType<typeof appRouter>>({ links: [link] });
}

/** Runs `during` while Redis refuses writes (reads still answer): every session write times out. */
async function withWritesPaused<T>(during: () => Promise<T>): Promise<T> {
  await admin.call('CLIENT', 'PAUSE', '5000', 'WRITE');
  try {
    return await during();
  } finally {
    await admin.call('CLIENT', 'UNPAUSE');
  }
}

for (const [name, serve] of Object.entries(adapters)) {
  for (const transformer of [superjson, undefined]) {
    describe(`${name}, ${transformer ? 'superjson' : 'no transformer'}`, () => {
      let served: Served;
      let errors: SessionError[];
      beforeAll(async () => {
        const built = manager();
        errors = built.errors;
        served = await serve(built.sessions, appRouter(built.sessions, transformer));
      });
      afterAll(() => served.close());

      test('a batch of three session calls whose write fails gives three errors, each formatted by the app', async () => {
        const trpc = batchClient(served.url, transformer);
        expect((await trpc.increment.mutate()).counter).toBe(1);
        errors.length = 0;
        const results = await withWritesPaused(() => Promise.allSettled([1, 2, 3].map(() => trpc.increment.mutate())));
        expect(results).toHaveLength(3);
        for (const result of results) {
          expect(result.status).toBe('rejected');
          const error = (result as PromiseRejectedResult).reason;
          expect(error).toBeInstanceOf(TRPCClientError);
          expect(error.message).toBe('Session store unavailable');
          expect(error.data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, formattedBy: 'app' });
        }
        // One write for the three calls, failed once, reported once; beside it, the outage itself, once.
        expect(errors.filter((e) => e instanceof SessionStoreUnavailableError)).toHaveLength(2);
        // Redis is back: the same client's next call succeeds, decoded by the transformer.
        const next = await trpc.increment.mutate();
        expect(next.counter).toBeGreaterThanOrEqual(2);
        if (transformer) expect(next.at).toBeInstanceOf(Date);
      });

      test('a procedure not built on sessions.procedure fails with an error that says what to do', async () => {
        const trpc = batchClient(served.url, transformer);
        const error = await trpc.bare.query().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TRPCClientError);
        expect((error as TRPCClientError<never>).message).toMatch(/persist: 'before-response'.*t\.procedure\.concat\(sessions\.procedure\)/);
        expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'PRECONDITION_FAILED', formattedBy: 'app' });
        expect(await trpc.ping.query()).toBe('pong');
      });
    });
  }
}

test("a batch of five writing calls is one read and one write in 'before-response' mode too", async () => {
  const { sessions, errors } = testManager(redisStore({ redis: client }), { persist: 'before-response' });
  const served = await listen(createHTTPServer({ router: testRouter, createContext: sessions.createContext }));
  try {
    const trpc = trpcClient<TestRouter>(served.url, new CookieJar());
    await trpc.increment.mutate();
    await redis.resetStats();
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => trpc.increment.mutate()));
    expect(results.sort()).toEqual([2, 3, 4, 5, 6]);
    // Every call has answered, so the write has landed: nothing to wait for.
    expect(await sessionCommands(redis)).toEqual({ hgetall: 1, evalsha: 1, hmget: 1, hset: 1 });
    expect(errors).toEqual([]);
  } finally {
    await served.close();
  }
});
