import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { encodeValue } from '../src/codec.js';
import { SessionCorruptError, SessionFieldDroppedError, SessionTooLargeError } from '../src/index.js';
import { describe as describeValue, richValue } from './helpers/app.js';
import { eventually, redisFixture, type Fixture } from './helpers/fixture.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await redisFixture({ maxSize: 4096 });
});
afterAll(() => fx.close());
beforeEach(() => {
  fx.errors.length = 0;
});

test('Date, Map, Set, BigInt, Uint8Array and nested objects come back from Redis as themselves', async () => {
  const { client } = fx.browser();
  const written = await client.putRich.mutate();
  expect(written).toEqual(describeValue(richValue()));
  expect(await client.describeExtra.query()).toEqual(written);
});

test.each(['function', 'symbol', 'class', 'cycle'] as const)('a value holding a %s is refused at put, leaving the session unchanged', async (kind) => {
  const { client } = fx.browser();
  await client.put.mutate({ key: 'extra', value: { kept: true } });
  const result = await client.putUnstorable.mutate(kind);
  expect(result).toMatchObject({ stored: false, name: 'SessionSerializationError' });
  expect((result as { message: string }).message).toContain('Session field "extra" cannot be stored');
  expect(await client.describeExtra.query()).toEqual({ kept: true });
});

test('put validates against the field schema, names the field, and leaves the session unchanged', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  const error = await client.put.mutate({ key: 'counter', value: 'ten' }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TRPCClientError);
  expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
  expect((error as Error).message).toMatch(/^Session field "counter" is invalid: the value: invalid_type \(expected number\)/);
  expect((await client.read.query()).counter).toBe(1);
});

test('an object changed in place after get() is noticed, validated and persisted', async () => {
  const { client } = fx.browser();
  expect(await client.pushToCart.mutate({ productId: 'p1', quantity: 2 })).toBe(1);
  expect(await client.pushToCart.mutate({ productId: 'p2', quantity: 1 })).toBe(2);
  expect((await client.read.query()).cart).toEqual([
    { productId: 'p1', quantity: 2 },
    { productId: 'p2', quantity: 1 },
  ]);
});

test('stored fields that no longer match the schema are dropped, reported, and removed from Redis', async () => {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  // As if an older deploy had stored a string counter and a field the schema no longer has.
  await fx.inspect.hset(`session:${id}`, 'd:counter', Buffer.from(encodeValue('seven')), 'd:retired', Buffer.from(encodeValue(1)));
  expect((await client.read.query()).counter).toBe(0);
  expect(fx.errors.map((e) => [e.constructor, (e as SessionFieldDroppedError).field])).toEqual(
    expect.arrayContaining([
      [SessionFieldDroppedError, 'counter'],
      [SessionFieldDroppedError, 'retired'],
    ]),
  );
  await eventually(async () => expect(await fx.inspect.hexists(`session:${id}`, 'd:retired')).toBe(0));
  expect(await fx.inspect.hexists(`session:${id}`, 'd:counter')).toBe(0);
  expect(fx.errors.every((e) => !e.message.includes(id))).toBe(true);
});

test('a field of bytes that are not msgpack is dropped and reported; the rest of the session is kept', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  const { id } = await client.read.query();
  await fx.inspect.hset(`session:${id}`, 'd:cart', Buffer.from([0xc1, 0xff, 0x00]));
  const after = await client.read.query();
  expect(after).toMatchObject({ id, counter: 1, cart: [] });
  expect(fx.errors).toHaveLength(1);
  expect(fx.errors[0]).toBeInstanceOf(SessionFieldDroppedError);
});

test.each([
  ['a string', (key: string) => fx.inspect.set(key, 'garbage'), 1],
  ['a list', (key: string) => fx.inspect.rpush(key, 'a', 'b'), 1],
  ['a hash without metadata', (key: string) => fx.inspect.hset(key, 'd:counter', 'x'), 1],
  ['a record with a broken creation time', (key: string) => fx.inspect.hset(key, 'd:counter', 'x', 'm:c', 'yesterday', 'm:u', 1), 0],
])('a key that is %s gives a fresh session and a report, never a crash', async (_, corrupt, kept) => {
  const { client, jar } = fx.browser();
  const { id } = await client.read.query();
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  await fx.inspect.del(`session:${id}`);
  await corrupt(`session:${id}`);
  const fresh = await client.read.query();
  expect(fresh.id).not.toBe(id);
  expect(jar.cookies.get('sid')).toBe(fresh.id);
  expect(fx.errors).toHaveLength(1);
  expect(fx.errors[0]).toBeInstanceOf(SessionCorruptError);
  // Only a record that is recognisably the library's is removed; any other key is left alone.
  expect(await fx.inspect.exists(`session:${id}`)).toBe(kept);
  expect(await client.ping.query()).toBe('pong');
});

test('a put that would take the session over maxSize is refused with a typed error, and nothing is written', async () => {
  const { client } = fx.browser();
  await client.putAndPersist.mutate({ note: 'small' });
  const error = await client.putAndPersist.mutate({ note: 'x'.repeat(5000) }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TRPCClientError);
  expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  expect((error as Error).message).toMatch(/is \d+ bytes encoded, over the limit of 4096 bytes; nothing was written/);
  const { id } = await client.read.query();
  // Refused at put, so the request has nothing left to write after the response.
  expect(fx.errors.some((e) => e instanceof SessionTooLargeError)).toBe(false);
  expect((await client.peek.query())?.data.note).toBe('small');
  expect(id).toHaveLength(32);
});
