import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { encodeValue } from '../src/codec.js';
import { SessionFieldDroppedError } from '../src/index.js';
import { eventually, redisFixture, type Fixture } from './helpers/fixture.js';

// Stored bytes that do not decode to a value the session could have written: dropped and reported, and the
// report carries no data.
let fx: Fixture;
beforeAll(async () => {
  fx = await redisFixture();
});
afterAll(() => fx.close());
beforeEach(() => {
  fx.errors.length = 0;
});

async function sessionWith(field: string, bytes: Buffer) {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  await fx.inspect.hset(`session:${id}`, `d:${field}`, bytes);
  return client;
}

test('the report of a field with trailing bytes carries none of its data', async () => {
  const client = await sessionWith('note', Buffer.concat([Buffer.from(encodeValue('card 4111-1111')), Buffer.from([0])]));
  expect((await client.peek.query())?.data.note).toBeUndefined();
  expect(fx.errors).toHaveLength(1);
  expect(fx.errors[0]).toBeInstanceOf(SessionFieldDroppedError);
  expect(fx.errors[0]!.message).not.toContain('4111');
});

test('a byte msgpack never uses (0xc1) in an unknown() field is dropped, not handed out as an odd object', async () => {
  const client = await sessionWith('extra', Buffer.from([0xc1]));
  expect(await client.describeExtra.query()).toBeUndefined();
  expect(fx.errors.map((e) => e.constructor)).toEqual([SessionFieldDroppedError]);
});

test('a field is decoded when first read: a broken one the request never reads is neither reported nor removed', async () => {
  const client = await sessionWith('note', Buffer.from([0xc1]));
  const id = (await client.read.query()).id; // reads counter and cart, not note
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(fx.errors).toEqual([]);
  expect(await fx.inspect.hexists(`session:${id}`, 'd:note')).toBe(1);
  // Read at last: reported once, and removed by that request's write.
  expect((await client.peek.query())?.data.note).toBeUndefined();
  expect(fx.errors.map((e) => e.constructor)).toEqual([SessionFieldDroppedError]);
  await eventually(async () => expect(await fx.inspect.hexists(`session:${id}`, 'd:note')).toBe(0));
});
