import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestRouter } from './helpers/app.js';
import { CookieJar, roundRobinBrowser, trpcClient } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

let redis: RedisServer;
let servers: ServerProcess[];
beforeAll(async () => {
  redis = await startRedis();
  servers = await Promise.all([startServerProcess(redis.port), startServerProcess(redis.port)]);
}, 60_000);
afterAll(async () => {
  await Promise.all((servers ?? []).map((server) => server.stop()));
  await redis?.stop(true);
});

/** One browser (one cookie jar) with a client on each server process; `single` sends one call per request. */
function browserOnEachProcess(link: 'batch' | 'single' = 'batch') {
  const jar = new CookieJar();
  return servers.map((server) => trpcClient<TestRouter>(server.url, jar, link));
}

test('the servers are separate processes sharing one Redis', () => {
  expect(new Set(servers.map((server) => server.pid)).size).toBe(2);
  expect(servers.map((server) => server.pid)).not.toContain(process.pid);
});

test('a session started on one process is read and changed on the other, through login and logout', async () => {
  const [a, b] = browserOnEachProcess();
  expect(await a!.increment.mutate()).toBe(1);
  const started = await b!.read.query();
  expect(started.counter).toBe(1);
  expect(await b!.addToCart.mutate({ productId: 'p1', quantity: 2 })).toHaveLength(1);
  expect(await a!.read.query()).toEqual({ id: started.id, counter: 1, cart: [{ productId: 'p1', quantity: 2 }] });

  const loggedIn = await a!.login.mutate('user-7');
  expect(loggedIn).not.toBe(started.id);
  expect(await b!.peek.query()).toMatchObject({ id: loggedIn, data: { userId: 'user-7', counter: 1 } });
  await b!.logout.mutate();
  expect(await a!.peek.query()).toBeNull();
  expect(servers.flatMap((server) => server.errors)).toEqual([]);
});

test('behind a round-robin balancer, every call sees the previous one, whichever process served it', async () => {
  const { client, servedBy } = roundRobinBrowser<TestRouter>(servers.map((server) => server.url));
  for (let expected = 1; expected <= 20; expected++) expect(await client.increment.mutate()).toBe(expected);
  expect(servedBy.filter((url) => url === servers[0]!.url)).toHaveLength(10);
  expect(servedBy.filter((url) => url === servers[1]!.url)).toHaveLength(10);
});

test('concurrent writes of different fields from the two processes both survive', async () => {
  const [a, b] = browserOnEachProcess('single');
  await a!.increment.mutate();
  for (let round = 1; round <= 25; round++) {
    await Promise.all([
      a!.put.mutate({ key: 'note', value: `a${round}` }),
      b!.put.mutate({ key: 'userId', value: `b${round}` }),
    ]);
    expect((await a!.peek.query())?.data).toMatchObject({ note: `a${round}`, userId: `b${round}`, counter: 1 });
  }
});

test('data.update increments from both processes, three at a time on each, sum exactly', async () => {
  const [a, b] = browserOnEachProcess('single');
  await a!.read.query();
  const chains = [a, a, a, b, b, b].map(async (client) => {
    const seen: number[] = [];
    for (let index = 0; index < 10; index++) seen.push(await client!.atomicIncrement.mutate());
    return seen;
  });
  const seen = (await Promise.all(chains)).flat();
  // Each increment saw a value no other did: none was lost or applied twice.
  expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, index) => index + 1));
  expect((await b!.read.query()).counter).toBe(60);
  expect(servers.flatMap((server) => server.errors)).toEqual([]);
});
