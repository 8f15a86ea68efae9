import { TRPCClientError } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedisConnections, redisStore, SessionStoreUnavailableError } from '../src/index.js';
import type { TestRouter } from './helpers/app.js';
import { serveRedisStore } from './helpers/fixture.js';
import { browser } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

let redis: RedisServer;
let inspect: Redis;
beforeAll(async () => {
  redis = await startRedis();
  inspect = redis.client();
});
afterAll(async () => {
  inspect.disconnect();
  await redis.stop(true);
});

/** How many connections the server has from clients that gave `name` as their connection name. */
async function connectionsNamed(name: string): Promise<number> {
  const list = (await inspect.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}

/** The test router over `redisStore({ redis })`, with one simulated browser. */
async function serve(redisOption: Parameters<typeof redisStore>[0]['redis']) {
  const app = await serveRedisStore(redisOption);
  return { ...app, client: browser<TestRouter>(app.url).client };
}

test('a connection given as options is opened on the first session access, then shared by every store naming it', async () => {
  const connections = createRedisConnections({
    default: { host: '127.0.0.1', port: redis.port, connectionName: 'shared-default' },
    sessions: { host: '127.0.0.1', port: redis.port, connectionName: 'shared-sessions' },
  });
  const first = await serve(connections.use('sessions'));
  const second = await serve(connections.use('sessions'));
  try {
    await first.client.ping.query();
    expect(await connectionsNamed('shared-sessions')).toBe(0);

    expect(await first.client.increment.mutate()).toBe(1);
    expect(await second.client.increment.mutate()).toBe(1);
    expect(await connectionsNamed('shared-sessions')).toBe(1);
    expect(await connectionsNamed('shared-default')).toBe(0);
    expect(await connections.get('sessions')).toBe(await connections.get('sessions'));
  } finally {
    await first.close();
    await second.close();
    await connections.close();
  }
  expect(await connectionsNamed('shared-sessions')).toBe(0);
});

test('a connection built from options pipelines automatically unless its options say not to; sessions work over it', async () => {
  const connections = createRedisConnections({
    sessions: { host: '127.0.0.1', port: redis.port },
    plain: { host: '127.0.0.1', port: redis.port, enableAutoPipelining: false },
  });
  const app = await serve(connections.use('sessions'));
  try {
    expect(((await connections.get('sessions')) as Redis).options.enableAutoPipelining).toBe(true);
    expect(((await connections.get('plain')) as Redis).options.enableAutoPipelining).toBe(false);
    // Concurrent requests whose commands share socket writes each get their own answer.
    const browsers = Array.from({ length: 20 }, () => browser<TestRouter>(app.url).client);
    expect(await Promise.all(browsers.map((client) => client.increment.mutate()))).toEqual(browsers.map(() => 1));
    expect(await Promise.all(browsers.map((client) => client.increment.mutate()))).toEqual(browsers.map(() => 2));
    expect(app.errors).toEqual([]);
  } finally {
    await app.close();
    await connections.close();
  }
});

test('a factory is called once, on first use, however many callers ask at the same time', async () => {
  let calls = 0;
  const connections = createRedisConnections({
    default: () => {
      calls++;
      return new Redis(redis.port, '127.0.0.1');
    },
  });
  const app = await serve(connections.use('default'));
  try {
    expect(calls).toBe(0);
    // Three browsers at once: their first session accesses all wait for the one connection being opened.
    const counters = await Promise.all([1, 2, 3].map(() => browser<TestRouter>(app.url).client.increment.mutate()));
    expect(counters).toEqual([1, 1, 1]);
    const [a, b] = await Promise.all([connections.get('default'), connections.get('default')]);
    expect(a).toBe(b);
    expect(calls).toBe(1);
  } finally {
    await app.close();
    await connections.close();
  }
});

test('an unknown name fails at once, naming the known ones', async () => {
  const connections = createRedisConnections({ default: { port: redis.port, lazyConnect: true } });
  // @ts-expect-error: the names are typed, so a typo is a compile error too
  expect(() => connections.use('sesions')).toThrow('no Redis connection is named "sesions" (known: "default")');
  // @ts-expect-error: as above
  await expect(connections.get('sesions')).rejects.toThrow(TypeError);
  await connections.close();
});

test("closing a manager leaves the registry's connection open; closing the registry closes what it opened and nothing else", async () => {
  let unusedCalls = 0;
  const own = redis.client({ connectionName: 'own-client' });
  const connections = createRedisConnections({
    default: { host: '127.0.0.1', port: redis.port, connectionName: 'registry-default' },
    unused: () => {
      unusedCalls++;
      return new Redis(redis.port, '127.0.0.1');
    },
  });
  const shared = await serve(connections.use('default'));
  const separate = await serve(own);
  try {
    await shared.client.increment.mutate();
    await separate.client.increment.mutate();
    await shared.close();
    expect(await ((await connections.get('default')) as Redis).ping()).toBe('PONG');

    await connections.close();
    expect(await connectionsNamed('registry-default')).toBe(0);
    expect(unusedCalls).toBe(0);
    expect(own.status).toBe('ready');
    expect(await separate.client.increment.mutate()).toBe(2);
    await expect(connections.get('default')).rejects.toThrow('after the registry was closed');
  } finally {
    await separate.close();
    own.disconnect();
  }
});

test('a store whose connection is closed fails its session calls with the store-unavailable error', async () => {
  const connections = createRedisConnections({ default: { host: '127.0.0.1', port: redis.port } });
  const app = await serve(connections.use('default'));
  try {
    expect(await app.client.increment.mutate()).toBe(1);
    await connections.close();
    const failure = await app.client.increment.mutate().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TRPCClientError);
    expect((failure as TRPCClientError<TestRouter>).message).toBe('Session store unavailable');
  } finally {
    await app.close();
  }
});

test('a factory that throws fails that call only; the next call opens the connection', async () => {
  let calls = 0;
  const connections = createRedisConnections({
    default: () => {
      if (++calls === 1) throw new Error('credentials not loaded yet');
      return new Redis(redis.port, '127.0.0.1');
    },
  });
  const app = await serve(connections.use('default'));
  try {
    // A new session reads nothing, so the first failure is its write's: before the response, so the call fails.
    await expect(app.client.increment.mutate()).rejects.toThrow('Session store unavailable');
    expect(app.errors.map((error) => (error as SessionStoreUnavailableError).reason)).toEqual(['credentials not loaded yet']);
    expect(await app.client.increment.mutate()).toBe(1);
    expect(await app.client.increment.mutate()).toBe(2);
    expect(calls).toBe(2);
  } finally {
    await app.close();
    await connections.close();
  }
});
