import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, redisStore, SessionStoreUnavailableError, type SessionError } from '../../src/index.js';
import { listen } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures } from './support/figures.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

/**
 * A store outage as a client sees it, through tRPC's own pipeline (superjson, an errorFormatter, the real
 * client over HTTP), in development (stack traces sent) and production mode: the generic message and the
 * code, never Redis's address or why it failed; those reach `onError`.
 */
test.each([
  { mode: 'production', isDev: false },
  { mode: 'development', isDev: true },
])('a client gets "Session store unavailable" and the code on a store outage, never where the store is ($mode)', async ({ isDev }) => {
  const reports: SessionError[] = [];
  const client = redis.client({ maxRetriesPerRequest: 1 });
  const sessions = createSessionManager({
    schema: z.object({ counter: z.number().default(0) }),
    store: redisStore({ redis: client, commandTimeout: 300 }),
    onError: (error) => reports.push(error),
  });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create({ transformer: superjson, isDev, errorFormatter: ({ shape }) => shape });
  const router = t.router({
    bump: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      return session.data.update('counter', (counter) => counter + 1);
    }),
  });
  const served = await listen(createHTTPServer({ router, createContext: sessions.createContext }));
  const bodies: string[] = [];
  let cookie = '';
  const trpc = createTRPCClient<typeof router>({
    links: [
      httpLink({
        url: served.url,
        transformer: superjson,
        fetch: async (url, init) => {
          const headers = new Headers((init as RequestInit | undefined)?.headers);
          if (cookie !== '') headers.set('cookie', cookie);
          const response = await fetch(url, { ...(init as RequestInit), headers });
          cookie = response.headers.getSetCookie()[0]?.split(';')[0] ?? cookie;
          bodies.push(await response.clone().text());
          return response;
        },
      }),
    ],
  });
  const failures: TRPCClientError<typeof router>[] = [];
  const attempt = async () => {
    try {
      await trpc.bump.mutate();
    } catch (error) {
      failures.push(error as TRPCClientError<typeof router>);
    }
  };
  const inspect = redis.client();
  try {
    await trpc.bump.mutate(); // a session to come back with
    bodies.length = 0;
    // Redis silent: commands time out.
    await inspect.call('CLIENT', 'PAUSE', '1000', 'ALL');
    await attempt();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // Redis gone: the connection refused.
    await redis.stop(true);
    await attempt();
    await attempt();
  } finally {
    await redis.start();
    inspect.disconnect();
    client.disconnect();
    await served.close();
  }
  expect(failures).toHaveLength(3);
  const address = `127.0.0.1:${redis.port}`;
  for (const failure of failures) {
    expect(failure).toBeInstanceOf(TRPCClientError);
    expect(failure.message).toBe('Session store unavailable');
    expect(failure.data?.code).toBe('INTERNAL_SERVER_ERROR');
  }
  for (const body of bodies) {
    expect(body).not.toContain(address);
    expect(body).not.toContain(String(redis.port));
    expect(body).not.toMatch(/refused|no answer within|ECONN/);
  }
  // Where and why reach onError (and the logs).
  const outages = reports.filter((error): error is SessionStoreUnavailableError => error instanceof SessionStoreUnavailableError);
  expect(outages.length).toBeGreaterThanOrEqual(1);
  expect(outages.some((error) => error.reason.includes(address))).toBe(true);
  logFigures(`store outage as a client sees it (${isDev ? 'development' : 'production'})`, { 'failed calls': failures.length, 'bodies checked': bodies.length, 'outages reported': outages.length });
}, 30_000);
