import type { Unsubscribable } from '@trpc/server/observable';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore } from '../../src/index.js';
import { testManager, type TestManagerOptions, type TestRouter } from './app.js';
import { CookieJar, trpcClient, type Served } from './http.js';
import { startRedis, type RedisServer } from './redis-server.js';
import type { Serve } from './servers.js';

interface Handlers<T> {
  onData(value: T): void;
  onError(error: unknown): void;
  onComplete(): void;
}

/** The values a subscription yields until it completes; rejects with its error. */
export function collect<T>(subscribe: (handlers: Handlers<T>) => Unsubscribable): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const values: T[] = [];
    const subscription = subscribe({
      onData: (value) => values.push(value),
      onError: (error) => {
        subscription.unsubscribe();
        reject(error);
      },
      onComplete: () => resolve(values),
    });
  });
}

/** What a streamed call that needs a new cookie must say. */
export const STREAMING_ERROR = /streamed .*no session cookie can be set.*httpBatchLink/;

/** A private redis-server, with a client for the stores and one to look at what they wrote. */
export function useRedis() {
  const redis = {} as { server: RedisServer; client: Redis; inspect: Redis };
  beforeAll(async () => {
    redis.server = await startRedis();
    redis.client = redis.server.client();
    redis.inspect = redis.server.client();
  });
  afterAll(async () => {
    redis.client.disconnect();
    redis.inspect.disconnect();
    await redis.server.stop(true);
  });
  return redis;
}

/**
 * The guarantees every HTTP transport gives, checked through the real tRPC client against `serve`: cookie
 * attributes, the write after the response, `'before-response'` mode, and streaming (httpBatchStreamLink,
 * SSE subscriptions) over existing sessions with a clear error where a new cookie would be needed.
 */
export function httpTransportContract(serve: Serve, redis = useRedis()): void {
  const servers: Served[] = [];
  const start = async (options: TestManagerOptions = {}) => {
    const { sessions, errors } = testManager(redisStore({ redis: redis.client }), options);
    const served = await serve(sessions);
    servers.push(served);
    return { url: served.url, errors };
  };
  afterAll(() => Promise.all(servers.map((served) => served.close())));

  let url: string;
  let errors: ReturnType<typeof testManager>['errors'];
  beforeAll(async () => ({ url, errors } = await start()));

  /** A browser with a session whose counter is 1, and clients over each link. */
  async function withSession(at = url) {
    const jar = new CookieJar();
    const batch = trpcClient<TestRouter>(at, jar);
    const stream = trpcClient<TestRouter>(at, jar, 'stream');
    expect(await batch.increment.mutate()).toBe(1);
    return { jar, batch, stream, key: `session:${jar.cookies.get('sid')}` };
  }

  test('a new session sets one cookie with its attributes, and the next request sees the write', async () => {
    const jar = new CookieJar();
    const client = trpcClient<TestRouter>(url, jar);
    expect(await client.increment.mutate()).toBe(1);
    expect(jar.received).toHaveLength(1);
    const [cookie] = jar.received;
    expect(cookie).toMatchObject({ name: 'sid', path: '/', httpOnly: true, sameSite: 'lax', maxAge: 86_400 });
    expect(cookie!.secure).toBeFalsy();
    expect(cookie!.value).toMatch(/^[\w-]{20,}$/);
    expect((await client.read.query()).counter).toBe(1);
    expect(await client.increment.mutate()).toBe(2);
    expect((await client.read.query()).counter).toBe(2);
    expect(await redis.inspect.exists(`session:${cookie!.value}`)).toBe(1);
    expect(jar.received).toHaveLength(1);
  });

  test('a cookie set twice in one request (two logins in a batch) is sent once, the last one', async () => {
    const { jar, batch } = await withSession();
    const before = jar.received.length;
    const [first, second] = await Promise.all([batch.login.mutate('ada'), batch.login.mutate('bob')]);
    expect(first).toBe(second);
    expect(jar.received.slice(before).map((cookie) => cookie.value)).toEqual([second]);
    expect(await batch.peek.query()).toMatchObject({ id: second, data: { counter: 1 } });
  });

  test('logout expires the cookie and removes the record', async () => {
    const { jar, batch, key } = await withSession();
    await batch.logout.mutate();
    expect(jar.received.at(-1)).toMatchObject({ name: 'sid', value: '', maxAge: 0 });
    // In the record's place, for 10 seconds, the revoked mark naming the logout (a resent removal answers by it).
    expect(await redis.inspect.get(key)).toMatch(/^trpc-session:revoked\n/);
    expect(await batch.peek.query()).toBeNull();
  });

  test("'before-response': the write is in Redis when the response arrives", async () => {
    const server = await start({ persist: 'before-response' });
    const { batch, key } = await withSession(server.url);
    expect(await redis.inspect.exists(key)).toBe(1);
    await batch.addToCart.mutate({ productId: 'p1', quantity: 2 });
    expect(await redis.inspect.hexists(key, 'd:cart')).toBe(1);
  });

  test('httpBatchStreamLink reads and writes an existing session, and the next request sees the write', async () => {
    const { jar, batch, stream } = await withSession();
    const [counter, read] = await Promise.all([stream.increment.mutate(), stream.read.query()]);
    expect(counter).toBe(2);
    expect(read.counter).toBeGreaterThanOrEqual(1);
    expect((await stream.read.query()).counter).toBe(2);
    expect((await batch.read.query()).counter).toBe(2);
    expect(jar.received).toHaveLength(1);
  });

  test('httpBatchStreamLink leaves the expiry alone: it cannot refresh the cookie, so record and cookie end together', async () => {
    const server = await start({ touchAfter: 0 });
    const { stream, batch, key } = await withSession(server.url);
    await redis.inspect.pexpire(key, 60_000);
    expect((await stream.read.query()).counter).toBe(1);
    expect(await redis.inspect.pttl(key)).toBeLessThanOrEqual(60_000);
    // A call whose response can carry the cookie refreshes both.
    expect((await batch.read.query()).counter).toBe(1);
    expect(await redis.inspect.pttl(key)).toBeGreaterThan(60_000);
  });

  test('httpBatchStreamLink cannot start, regenerate or destroy a session: a clear error, nothing lost', async () => {
    const jar = new CookieJar();
    const stream = trpcClient<TestRouter>(url, jar, 'stream');
    await expect(stream.read.query()).rejects.toThrow(STREAMING_ERROR);
    expect(jar.received).toEqual([]);

    const session = await withSession();
    await expect(session.stream.login.mutate('ada')).rejects.toThrow(STREAMING_ERROR);
    await expect(session.stream.logout.mutate()).rejects.toThrow(STREAMING_ERROR);
    expect(await session.batch.peek.query()).toMatchObject({ data: { counter: 1 } });
    expect(await redis.inspect.exists(session.key)).toBe(1);
  });

  test('an SSE subscription writes an existing session, written once it ends', async () => {
    const { jar, batch } = await withSession();
    expect(await collect<number>((handlers) => batch.countUp.subscribe(3, handlers))).toEqual([2, 3, 4]);
    expect((await batch.read.query()).counter).toBe(4);
    expect(jar.received).toHaveLength(1);
  });

  test('an SSE subscription cannot start a session: a clear error', async () => {
    const jar = new CookieJar();
    const client = trpcClient<TestRouter>(url, jar);
    await expect(collect<number>((handlers) => client.countUp.subscribe(1, handlers))).rejects.toThrow(STREAMING_ERROR);
    expect(jar.received).toEqual([]);
  });

  test('no write was reported as failed', () => {
    expect(errors).toEqual([]);
  });
}
