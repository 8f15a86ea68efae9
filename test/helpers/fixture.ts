import type { AnyTRPCRouter } from '@trpc/server';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import type { Redis } from 'ioredis';
import { redisStore, type RedisStoreOptions, type SessionError, type SessionStore } from '../../src/index.js';
import { router, testManager, type TestManagerOptions, type TestRouter } from './app.js';
import { browser, serveStandalone, type Served } from './http.js';
import { startRedis, type RedisServer } from './redis-server.js';

export interface Fixture {
  redis: RedisServer;
  /** The client the session store uses. */
  client: Redis;
  /** A second client, for looking at and tampering with what the store wrote. */
  inspect: Redis;
  sessions: ReturnType<typeof testManager>['sessions'];
  errors: ReturnType<typeof testManager>['errors'];
  served: Served;
  browser(link?: 'batch' | 'single'): ReturnType<typeof browser<TestRouter>>;
  close(): Promise<void>;
}

/** A private redis-server, the test router on the standalone adapter over it, and simulated browsers. */
export async function redisFixture(
  options: TestManagerOptions = {},
  storeOptions: Partial<RedisStoreOptions> = {},
  redis?: RedisServer,
): Promise<Fixture> {
  const server = redis ?? (await startRedis());
  const client = server.client();
  const inspect = server.client();
  const { sessions, errors } = testManager(redisStore({ redis: client, ...storeOptions }), options);
  const served = await serveStandalone(router, sessions.createContext);
  return {
    redis: server,
    client,
    inspect,
    sessions,
    errors,
    served,
    browser: (link) => browser<TestRouter>(served.url, link),
    async close() {
      await served.close();
      client.disconnect();
      inspect.disconnect();
      if (redis === undefined) await server.stop(true);
    },
  };
}

/** What a test with a schema and router of its own builds over the store `ownRouterFixture` hands it. */
export type OwnRouterSetup = (
  store: SessionStore,
  onError: (error: SessionError) => void,
) => { router: AnyTRPCRouter; createContext: (opts: CreateHTTPContextOptions) => unknown };

/** A private redis-server and a test's own router on the standalone adapter; `errors` collects `onError`. */
export async function ownRouterFixture(setup: OwnRouterSetup) {
  const redis = await startRedis();
  const client = redis.client();
  const errors: SessionError[] = [];
  const { router, createContext } = setup(redisStore({ redis: client }), (error) => errors.push(error));
  const served = await serveStandalone(router, createContext);
  return {
    /** The client the store uses, also for looking at and tampering with what it wrote. */
    client,
    served,
    errors,
    async close() {
      await served.close();
      client.disconnect();
      await redis.stop(true);
    },
  };
}

/** The session commands the server executed since `resetStats`, without the stats calls themselves. */
export async function sessionCommands(redis: RedisServer): Promise<Record<string, number>> {
  const stats = await redis.commandStats();
  delete stats['info'];
  delete stats['config|resetstat'];
  delete stats['ping'];
  delete stats['hello']; // ioredis 6 opens every connection with HELLO: connecting, not a session command
  return stats;
}

/** Waits until `check` passes or `ms` run out: for effects that land just after a response. */
export async function eventually(check: () => Promise<void> | void, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/**
 * The test router over `redisStore({ redis })` on the standalone adapter, for tests that bring their own
 * Redis deployment. Writes land before responses, so a call that returned is in Redis.
 */
export async function serveRedisStore(redis: RedisStoreOptions['redis']) {
  const { sessions, errors } = testManager(redisStore({ redis }), { persist: 'before-response' });
  const served = await serveStandalone(router, sessions.createContext);
  return {
    url: served.url,
    sessions,
    errors,
    async close() {
      await served.close();
      await sessions.close();
    },
  };
}
