import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, serveStandalone } from './helpers/http.js';
import { eventually, redisFixture, sessionCommands, type Fixture } from './helpers/fixture.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await redisFixture();
  // Load the write script once, so counts below are of steady-state traffic (EVALSHA, no EVAL fallback).
  const { client } = fx.browser();
  await client.increment.mutate();
  await client.read.query();
});
afterAll(() => fx.close());

test('a call that never asks for its session sends no Redis command and sets no cookie', async () => {
  const { client, jar } = fx.browser();
  await fx.redis.resetStats();
  expect(await client.ping.query()).toBe('pong');
  expect(await sessionCommands(fx.redis)).toEqual({});
  expect(jar.received).toEqual([]);
});

test('a brand-new session reads nothing, and is written once after the response', async () => {
  const { client, jar } = fx.browser();
  await fx.redis.resetStats();
  const { id } = await client.read.query();
  expect(jar.cookies.get('sid')).toBe(id);
  await eventually(async () => expect((await sessionCommands(fx.redis))['evalsha']).toBe(1));
  expect(await sessionCommands(fx.redis)).toEqual({ evalsha: 1, exists: 1, hset: 1, pexpire: 1 });
  expect(await fx.inspect.exists(`session:${id}`)).toBe(1);
});

test('a reading call is one round trip (one HGETALL), and an unchanged session is not rewritten', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.redis.resetStats();
  expect((await client.read.query()).counter).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // A fresh session's expiry is not due for a refresh (touchAfter), so nothing else is sent.
  expect(await sessionCommands(fx.redis)).toEqual({ hgetall: 1 });
});

test('a writing call is one read and one write, of the changed field only', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.redis.resetStats();
  expect(await client.increment.mutate()).toBe(2);
  await eventually(async () => expect((await sessionCommands(fx.redis))['evalsha']).toBe(1));
  const stats = await sessionCommands(fx.redis);
  expect(stats).toMatchObject({ hgetall: 1, evalsha: 1, hmget: 1, hset: 1 });
  expect(stats['pexpire']).toBeUndefined(); // the expiry is the load's to refresh, with the cookie
});

test('calls batched into one HTTP request share one load and one write, and one session', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.redis.resetStats();
  // httpBatchLink batches queries and mutations apart (GET and POST): five mutations make one request.
  const results = await Promise.all([1, 2, 3, 4, 5].map(() => client.increment.mutate()));
  expect(results.sort()).toEqual([2, 3, 4, 5, 6]);
  await eventually(async () => expect((await sessionCommands(fx.redis))['evalsha']).toBe(1));
  // Inside the write script, one HMGET of what it checks: the record's creation time (there is a record), the tokens
  // of its last changes (a resent write answers as its first run), its schema version, and the value of the field it
  // sets (the size rule, measured where the write is atomic).
  expect(await sessionCommands(fx.redis)).toEqual({ hgetall: 1, evalsha: 1, hmget: 1, hset: 1 });
  expect((await client.read.query()).counter).toBe(6);
});

test('destroy() is a read and one script (its SET of the revoked mark); regenerate() a read, the move out of the old record and the new record', async () => {
  const { client } = fx.browser('single');
  await client.increment.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.redis.resetStats();
  await client.login.mutate('user-1');
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Three round trips, as before the move was made atomic: the read (HGETALL), the move out of the old record
  // (one script: its HGETALL, and the SET of the moved mark over the record), the new record; the login's own put
  // of userId rides in the after-response write: one more script. (EVAL: the move script's first use here.)
  const moved = await sessionCommands(fx.redis);
  expect((moved['evalsha'] ?? 0) + (moved['eval'] ?? 0)).toBe(3);
  expect(moved).toMatchObject({ hgetall: 2, set: 1 });
  expect(moved['del']).toBeUndefined();
  await fx.redis.resetStats();
  await client.logout.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Two round trips: the read, and one script that puts the revoked mark in the record's place (its TYPE and
  // SET), or follows a move another request made since the read. (EVAL: the script's first use here.)
  const { eval: evals = 0, evalsha = 0, ...stats } = await sessionCommands(fx.redis);
  expect(evals + evalsha).toBe(1);
  expect(stats).toEqual({ hgetall: 1, type: 1, set: 1 });
});

test('concurrent start() calls in one batch of a new client resolve to the same session', async () => {
  const { client, jar } = fx.browser();
  const [a, b, c] = await Promise.all([client.read.query(), client.read.query(), client.read.query()]);
  expect(a.id).toBe(b.id);
  expect(b.id).toBe(c.id);
  expect(jar.received.filter((cookie) => cookie.name === 'sid')).toHaveLength(1);
});

test('a Redis client given as a function is created on the first session access, not before', async () => {
  let created = 0;
  const { sessions } = testManager(
    redisStore({
      redis: () => {
        created++;
        return new Redis(fx.redis.port, '127.0.0.1');
      },
    }),
  );
  const served = await serveStandalone(router, sessions.createContext);
  try {
    const jar = new CookieJar();
    const client = createTRPCClient<TestRouter>({ links: [httpBatchLink({ url: served.url, fetch: jar.fetch })] });
    await client.ping.query();
    expect(created).toBe(0);
    await client.increment.mutate();
    await client.increment.mutate();
    expect(created).toBe(1);
  } finally {
    await served.close();
    await sessions.close();
  }
});
