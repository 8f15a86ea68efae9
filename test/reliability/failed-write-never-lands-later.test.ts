import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedisConnections, redisStore, SessionStoreUnavailableError, type RedisStoreOptions } from '../../src/index.js';
import { router, testManager, type TestRouter } from '../helpers/app.js';
import { eventually } from '../helpers/fixture.js';
import { browser, serveStandalone } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures } from './support/figures.js';

/*
 * A write the library reports as failed never lands later. With Redis down when the app starts, ioredis would
 * keep a command in its offline queue and send it once Redis is back, long after the call timed out and the write
 * was reported failed to `onError`. The store sends a command only over a live connection, waiting for one up to
 * `commandTimeout`: the reported failure is the truth, and nothing lands when Redis comes back.
 */

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

const ROUNDS = 3;

const clients: Record<string, () => { store: RedisStoreOptions['redis']; close: () => Promise<void> }> = {
  "ioredis's defaults (a client the store opens)": () => ({ store: () => new Redis(redis.port, '127.0.0.1'), close: async () => undefined }),
  'createRedisConnections': () => {
    const connections = createRedisConnections({ sessions: { host: '127.0.0.1', port: redis.port } });
    return { store: connections.use('sessions'), close: () => connections.close() };
  },
};

test.each(Object.keys(clients))('with %s and Redis down at start-up, a write reported failed is not applied when Redis comes back', async (name) => {
  const figures = { 'writes reported failed': 0, 'sessions stored after Redis came back': 0 };
  for (let round = 0; round < ROUNDS; round++) {
    await redis.stop(true);
    const given = clients[name]!();
    const { sessions, errors } = testManager(redisStore({ redis: given.store, commandTimeout: 300 }));
    const served = await serveStandalone(router, sessions.createContext);
    try {
      // Written after the response: its failure goes to onError, after the outage's own report (the client's
      // connection errors, followed for a client the library opens).
      await browser<TestRouter>(served.url).client.addToCart.mutate({ productId: 'beans', quantity: 1 }).catch(() => undefined);
      await eventually(() => expect(errors.filter((error) => error instanceof SessionStoreUnavailableError)).toHaveLength(2));
      figures['writes reported failed']++;
      await redis.start();
      // Redis is back and the client connected to it: a command still queued would have been sent by now.
      const probe = browser<TestRouter>(served.url).client;
      await eventually(async () => expect(await probe.increment.mutate()).toBe(1), 5000);
      const look = redis.client();
      const keys = await look.keys('session:*');
      const probed = 1;
      look.disconnect();
      figures['sessions stored after Redis came back'] += keys.length - probed;
    } finally {
      await served.close();
      await sessions.close();
      await given.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  logFigures(`a write reported failed with Redis down at start-up (${name})`, figures);
  expect(figures).toEqual({ 'writes reported failed': ROUNDS, 'sessions stored after Redis came back': 0 });
}, 120_000);
