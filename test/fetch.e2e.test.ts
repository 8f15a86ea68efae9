import { expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient } from './helpers/http.js';
import { serveFetch } from './helpers/servers.js';
import { collect, httpTransportContract, useRedis } from './helpers/transport-contract.js';

const redis = useRedis();
httpTransportContract((sessions) => serveFetch(sessions), redis);

test('the write after the response is handed to waitUntil, for plain and streamed responses', async () => {
  const { sessions, errors } = testManager(redisStore({ redis: redis.client }));
  const pending: Promise<unknown>[] = [];
  const served = await serveFetch(sessions, (promise) => pending.push(promise));
  try {
    const jar = new CookieJar();
    const client = trpcClient<TestRouter>(served.url, jar);
    expect(await client.ping.query()).toBe('pong');
    expect(pending).toHaveLength(0);

    expect(await client.increment.mutate()).toBe(1);
    expect(pending).toHaveLength(1);
    await pending[0];
    expect(await redis.inspect.exists(`session:${jar.cookies.get('sid')}`)).toBe(1);

    expect(await trpcClient<TestRouter>(served.url, jar, 'stream').increment.mutate()).toBe(2);
    expect(await collect<number>((handlers) => client.countUp.subscribe(2, handlers))).toEqual([3, 4]);
    await Promise.all(pending);
    expect(pending).toHaveLength(3);
    expect((await client.read.query()).counter).toBe(4);
    expect(errors).toEqual([]);
  } finally {
    await served.close();
  }
});
