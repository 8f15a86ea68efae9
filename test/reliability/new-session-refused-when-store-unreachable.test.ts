import { TRPCClientError } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore, SessionStoreRecoveredError, SessionStoreUnavailableError, type RedisStoreOptions } from '../../src/index.js';
import { router, testManager, type TestRouter } from '../helpers/app.js';
import { eventually } from '../helpers/fixture.js';
import { browser, serveStandalone } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures } from './support/figures.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

const clients: Record<string, () => { store: RedisStoreOptions['redis']; status: () => string; close: () => void }> = {
  'a client given directly': () => {
    const client = redis.client();
    // A client given directly keeps the listeners you gave it: give it one, as the README says.
    client.on('error', () => undefined);
    return { store: client, status: () => client.status, close: () => client.disconnect() };
  },
  'a client the store owns': () => {
    let made: Redis | undefined;
    return {
      store: () => (made = new Redis(redis.port, '127.0.0.1')),
      status: () => made!.status,
      close: () => undefined,
    };
  },
};

test.each(Object.keys(clients))(
  'with %s and Redis unreachable, a new session is refused with SessionStoreUnavailableError, with no cookie',
  async (name) => {
    const given = clients[name]!();
    const { sessions, errors } = testManager(redisStore({ redis: given.store }));
    const served = await serveStandalone(router, sessions.createContext);
    const figures = { 'new sessions refused while unreachable': 0, 'cookies set for them': 0, 'new sessions after recovery': 0 };
    try {
      // Connected: a new session is written after the response as usual.
      const before = browser<TestRouter>(served.url);
      await before.client.increment.mutate();
      await eventually(async () => expect((await before.client.peek.query())?.data.counter).toBe(1));

      await redis.stop(true);
      await eventually(() => expect(['reconnecting', 'close', 'end']).toContain(given.status()));
      for (let attempt = 0; attempt < 3; attempt++) {
        const user = browser<TestRouter>(served.url);
        const error = await user.client.increment.mutate().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TRPCClientError);
        expect((error as TRPCClientError<TestRouter>).data?.code).toBe('INTERNAL_SERVER_ERROR');
        expect((error as Error).message).toBe('Session store unavailable');
        figures['new sessions refused while unreachable']++;
        figures['cookies set for them'] += user.jar.received.length;
      }
      expect(figures['cookies set for them']).toBe(0);
      // Calls that never touch the session keep working.
      expect(await browser<TestRouter>(served.url).client.ping.query()).toBe('pong');
      // The outage is reported once.
      expect(errors.filter((error) => error instanceof SessionStoreUnavailableError)).toHaveLength(1);

      await redis.start();
      await eventually(async () => {
        const after = browser<TestRouter>(served.url);
        expect(await after.client.increment.mutate()).toBe(1);
        expect(after.jar.cookies.has('sid')).toBe(true);
      });
      figures['new sessions after recovery']++;
      await eventually(() => expect(errors.some((error) => error instanceof SessionStoreRecoveredError)).toBe(true));
      logFigures(`new session while Redis is unreachable (${name})`, figures);
    } finally {
      await served.close();
      await sessions.close();
      given.close();
    }
  },
);
