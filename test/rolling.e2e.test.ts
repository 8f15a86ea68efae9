import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisFixture, type Fixture } from './helpers/fixture.js';

// The browser's cookie jar drops the cookie at its Max-Age, as a real browser does: an active client must
// keep its session however its calls use it, so every extension of the record's expiry must reach the cookie.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let fx: Fixture;
beforeAll(async () => {
  fx = await redisFixture({ cookie: { lifespan: 2 }, touchAfter: 0.5 });
});
afterAll(() => fx.close());

test('a client that only reads with load() keeps its session past the first cookie\'s Max-Age', async () => {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  for (let elapsed = 0; elapsed < 3500; elapsed += 250) {
    await sleep(250);
    expect((await client.peek.query())?.id).toBe(id);
  }
});

test('a client that writes on every call keeps its session past the first cookie\'s Max-Age', async () => {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  let calls = 0;
  for (let elapsed = 0; elapsed < 3500; elapsed += 200) {
    await sleep(200);
    expect(await client.increment.mutate()).toBe(++calls);
  }
  expect((await client.read.query()).id).toBe(id);
});
