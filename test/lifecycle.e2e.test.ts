import express from 'express';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { redisStore, SessionUnavailableError } from '../src/index.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { eventually, redisFixture, sessionCommands, type Fixture } from './helpers/fixture.js';
import { browser, serveStandalone } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let fx: Fixture;
beforeAll(async () => {
  redis = await startRedis();
  fx = await redisFixture({}, {}, redis);
});
afterAll(async () => {
  await fx.close();
  await redis.stop(true);
});
beforeEach(() => {
  fx.errors.length = 0;
});

test('each write after the response is seen by the next request of the same client', async () => {
  const { client } = fx.browser('single');
  for (let expected = 1; expected <= 25; expected++) expect(await client.increment.mutate()).toBe(expected);
  expect((await client.read.query()).counter).toBe(25);
});

test('persist() writes before the procedure returns, and the unchanged session is not written again', async () => {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  // The new session's own write lands after that response: wait for it, not for a guessed time.
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  await redis.resetStats();
  await client.putAndPersist.mutate({ note: 'now' });
  await sleep(100);
  expect(await sessionCommands(redis)).toMatchObject({ hgetall: 1, evalsha: 1 }); // one load, one write
  expect((await client.peek.query())?.data.note).toBe('now');
});

test('regenerate() gives a new ID, keeps the data, leaves only the moved mark at the old ID and replaces the cookie', async () => {
  const { client, jar } = fx.browser();
  await client.increment.mutate();
  const { id: before } = await client.read.query();
  const after = await client.login.mutate('user-1');
  expect(after).not.toBe(before);
  expect(jar.cookies.get('sid')).toBe(after);
  // No record at the old ID: the moved mark, a string, for MOVED_MARK_MS.
  expect(await fx.inspect.type(`session:${before}`)).toBe('string');
  await eventually(async () => expect((await client.peek.query())?.data).toMatchObject({ counter: 1, userId: 'user-1' }));
  const old = await fetch(`${fx.served.url}/peek`, { headers: { cookie: `sid=${before}` } }).then((r) => r.json());
  expect(old.result.data).toBeNull();
});

test('destroy() removes the record and expires the cookie; the next start() is a new, empty session', async () => {
  const { client, jar } = fx.browser();
  await client.increment.mutate();
  const { id } = await client.read.query();
  await client.logout.mutate();
  expect(jar.received.at(-1)).toMatchObject({ name: 'sid', value: '', maxAge: 0 });
  expect(await fx.inspect.get(`session:${id}`)).toMatch(/^trpc-session:revoked\n/); // no record: the logout's mark
  const next = await client.read.query();
  expect(next.id).not.toBe(id);
  expect(next.counter).toBe(0);
});

test('destroy() without a session sets no cookie and sends nothing to Redis', async () => {
  const { client, jar } = fx.browser();
  await redis.resetStats();
  await client.logout.mutate();
  expect(jar.received).toEqual([]);
  expect(await sessionCommands(redis)).toEqual({});
});

test('a server-side caller without a request gets a clear error from start(), and null from load()', async () => {
  const caller = router.createCaller(fx.sessions.createContext());
  expect(await caller.ping()).toBe('pong');
  expect(await caller.peek()).toBeNull();
  const error = await caller.read().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SessionUnavailableError);
  expect((error as Error).message).toContain('No HTTP request is attached to this context');
});

test('works through createExpressMiddleware', async () => {
  const app = express();
  app.use('/trpc', createExpressMiddleware({ router, createContext: fx.sessions.createContext }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { client, jar } = browser<TestRouter>(`http://127.0.0.1:${(server.address() as AddressInfo).port}/trpc`);
    expect(await client.increment.mutate()).toBe(1);
    expect(await client.increment.mutate()).toBe(2);
    expect(jar.received).toHaveLength(1);
    expect(jar.received[0]).toMatchObject({ name: 'sid', httpOnly: true, sameSite: 'lax', path: '/' });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an idle session expires after its lifespan and is never returned again', async () => {
  const short = await redisFixture({ cookie: { lifespan: 1 } }, {}, redis);
  try {
    const { client } = short.browser();
    await client.increment.mutate();
    const { id } = await client.read.query();
    await sleep(1300);
    expect(await client.peek.query()).toBeNull();
    const next = await client.read.query();
    expect(next).toMatchObject({ counter: 0 });
    expect(next.id).not.toBe(id);
  } finally {
    await short.close();
  }
});

test('using a session refreshes its TTL and the cookie (rolling), once touchAfter has passed', async () => {
  const rolling = await redisFixture({ cookie: { lifespan: 4 }, touchAfter: 1 }, {}, redis);
  try {
    const { client, jar } = rolling.browser();
    const { id } = await client.read.query();
    await sleep(100);
    // Within touchAfter: no refresh, no cookie.
    await client.read.query();
    expect(jar.received).toHaveLength(1);
    await sleep(1200);
    const ttlBefore = await rolling.inspect.pttl(`session:${id}`);
    await client.read.query();
    const ttlAfter = await rolling.inspect.pttl(`session:${id}`);
    expect(ttlBefore).toBeLessThan(3000);
    // Refreshed to the full 4 s lifespan; however slow this machine is, well above what was left before.
    expect(ttlAfter).toBeGreaterThan(ttlBefore + 500);
    expect(jar.received).toHaveLength(2);
    expect(jar.received[1]).toMatchObject({ name: 'sid', value: id, maxAge: 4 });
  } finally {
    await rolling.close();
  }
});

test('the absolute lifetime ends an active session, and caps the cookie and the TTL', async () => {
  const absolute = await redisFixture({ cookie: { lifespan: 60 }, absoluteLifetime: 2, touchAfter: 0 }, {}, redis);
  try {
    const { client, jar } = absolute.browser();
    const { id } = await client.read.query();
    expect(jar.received[0]?.maxAge).toBe(2);
    await eventually(async () => expect(await absolute.inspect.pttl(`session:${id}`)).toBeGreaterThan(0));
    expect(await absolute.inspect.pttl(`session:${id}`)).toBeLessThanOrEqual(2000);
    for (let i = 0; i < 5; i++) {
      await client.increment.mutate();
      await sleep(300);
    }
    await sleep(600);
    const next = await client.read.query();
    expect(next.id).not.toBe(id);
    expect(next.counter).toBe(0);
  } finally {
    await absolute.close();
  }
});

test('a Redis client given directly is not closed by close(); one created from a function is', async () => {
  const given = redis.client();
  await given.ping();
  const { sessions } = testManager(redisStore({ redis: given }));
  await sessions.close();
  expect(given.status).toBe('ready');
  given.disconnect();

  let created: ReturnType<RedisServer['client']> | undefined;
  const owned = testManager(redisStore({ redis: () => (created = redis.client()) }));
  const served = await serveStandalone(router, owned.sessions.createContext);
  await browser<TestRouter>(served.url).client.read.query();
  await served.close();
  await owned.sessions.close();
  await eventually(() => expect(created?.status).toBe('end'));
});
