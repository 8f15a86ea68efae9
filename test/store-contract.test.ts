import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { memoryStore, redisStore, type RecordWrite, type SessionStore } from '../src/index.js';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { createSessionId, createWriteToken } from '../src/id.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HASH, MOVED_MARK, TOUCH_SCRIPT } from '../src/stores/redis-scripts.js';
import { storeContractCases } from '../src/testing.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const root = resolve(import.meta.dirname, '..');

const bytes = (text: string) => Buffer.from(text);
const create = (now: number, set: Record<string, string> = {}, ttlMs = 60_000): RecordWrite => ({
  create: true,
  now,
  ttlMs,
  createdAt: now,
  userId: null,
  lifespan: null,
  schemaVersion: 3,
  set: new Map(Object.entries(set).map(([k, v]) => [k, bytes(v)])),
  remove: [],
  maxSize: 65_536,
  token: createSessionId(),
});

let redis: RedisServer;
const stores: Record<string, () => SessionStore> = {};
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));
stores['redis'] = () => redisStore({ redis: () => redis.client() });
stores['memory'] = () => memoryStore();

/** The same contract, held by every store (the suite `trpc-session/testing` exports): what the session core relies on. */
describe.each(Object.keys(stores))('%s store', (name) => {
  for (const { name: promise, run } of storeContractCases(() => stores[name]!())) test(promise, run);
});

test("the README's store example runs the suite with node:test, and every case passes", () => {
  // tsx resolves `trpc-session/testing` to the sources through tsconfig.json's paths, as tsc does.
  const printed = execFileSync(resolve(root, 'node_modules/.bin/tsx'), ['examples/writing-a-store.ts'], { cwd: root, encoding: 'utf8' });
  expect(printed).toMatch(new RegExp(`[#ℹ] pass ${storeContractCases(() => memoryStore()).length}\\n[#ℹ] fail 0\\n`));
}, 60_000);

describe('the Redis store reads a plain HGETALL', () => {
  let store: SessionStore;
  let inspect: Redis;
  beforeAll(() => {
    store = stores['redis']!();
    inspect = redis.client();
  });
  afterAll(async () => {
    await store.close();
    await inspect.quit();
  });
  const hashOf = (id: string) => inspect.hgetall(`session:${id}`);

  test('a record keeps its expiry in the hash, set on creation and on each touch', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, {}, 30_000));
    expect((await hashOf(id))['m:e']).toBe(String(now + 30_000));
    expect(await store.touch(id, { now: now + 5, ttlMs: 60_000, userId: null })).toBe('ok');
    expect((await hashOf(id))['m:e']).toBe(String(now + 5 + 60_000));
    expect(await inspect.pttl(`session:${id}`)).toBeGreaterThan(55_000);
  });

  test('a hash without a recorded expiry loads with an unknown one (NaN), which a touch sets with the TTL', async () => {
    const id = createSessionId();
    const now = Date.now();
    // As a hand-written record (or a PERSIST) would leave it: no m:e, no TTL.
    await inspect.hset(`session:${id}`, 'm:c', now, 'm:u', now, 'm:v', 3, 'd:a', '1');
    const loaded = await store.load(id, now);
    expect(loaded.status === 'found' && loaded.record.expiresAt).toBeNaN();
    expect(await store.touch(id, { now, ttlMs: 60_000, userId: null })).toBe('ok');
    expect((await hashOf(id))['m:e']).toBe(String(now + 60_000));
    expect(await inspect.pttl(`session:${id}`)).toBeGreaterThan(55_000);
  });

  test("a touch of a bound record pushes back its entry in the user's index", async () => {
    const id = createSessionId();
    const user = `user-${createSessionId()}`;
    const now = Date.now();
    await store.write(id, { ...create(now, {}, 30_000), userId: user });
    expect(Number(await inspect.zscore(`session:user:{${user}}`, id))).toBe(now + 30_000);
    await store.touch(id, { now: now + 5, ttlMs: 60_000, userId: user });
    expect(Number(await inspect.zscore(`session:user:{${user}}`, id))).toBe(now + 5 + 60_000);
  });

  test('the field names are spelled once: the Lua scripts interpolate them', () => {
    const source = readFileSync(new URL('../src/stores/redis-scripts.ts', import.meta.url), 'utf8');
    for (const name of [...Object.values(HASH), MOVED_MARK]) expect(source.split(`'${name}'`).length - 1, name).toBe(1);
  });

  test('the refresh never recreates a record removed since the read', async () => {
    // The refresh is a second command: between the two, another request may have destroyed the session.
    const key = `session:${createSessionId()}`;
    const now = Date.now();
    expect(await inspect.eval(TOUCH_SCRIPT, 1, key, now, 60_000, now + 60_000)).toBe(0);
    expect(await inspect.exists(key)).toBe(0);
  });

  test("tokens of two lengths in one record's list, as in a rolling deploy from 16-character tokens to 12: a resend of any of the last 8 changes nothing, and the list is the last 8", async () => {
    const id = createSessionId();
    const now = Date.now();
    const older = () => randomBytes(12).toString('base64url');
    // Runs of each form and of both, so that full lists of one length (cut without a search) and mixed ones meet either form.
    const tokens = [...Array.from({ length: 10 }, createWriteToken), ...Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? older() : createWriteToken())), ...Array.from({ length: 10 }, older), ...Array.from({ length: 10 }, createWriteToken)];
    const written: string[] = [];
    const update = (value: number, token: string) => ({ ...create(now, { v: String(value) }), create: false, token });
    expect(await store.write(id, { ...create(now, { v: '0' }), token: tokens[0]! })).toBe('ok');
    written.push(tokens[0]!);
    for (let index = 1; index < tokens.length; index++) {
      expect(await store.write(id, update(index, tokens[index]!))).toBe('ok');
      written.unshift(tokens[index]!);
      // Each of the last 8 sent again: answered, not applied.
      for (const [age, token] of written.slice(0, 8).entries()) expect(await store.write(id, update(-1 - age, token))).toBe('ok');
      expect((await hashOf(id))['d:v']).toBe(String(index));
      expect((await hashOf(id))['m:t']).toBe(written.slice(0, 8).map((token) => `,${token}`).join(''));
    }
  });
});

test('the memory store stays within maxSessions, evicting the least recently used', async () => {
  const store = memoryStore({ maxSessions: 3 });
  const ids = Array.from({ length: 4 }, () => createSessionId());
  const now = Date.now();
  for (const id of ids.slice(0, 3)) await store.write(id, create(now));
  await store.load(ids[0]!, now); // now the most recently used
  await store.write(ids[3]!, create(now));
  expect((await store.load(ids[1]!, now)).status).toBe('missing');
  for (const id of [ids[0]!, ids[2]!, ids[3]!]) expect((await store.load(id, now)).status).toBe('found');
});

test('past maxSessions the memory store evicts the least recently used 1% at once, and never holds more', async () => {
  const store = memoryStore({ maxSessions: 200 });
  const ids = Array.from({ length: 201 }, () => createSessionId());
  const now = Date.now();
  for (const id of ids.slice(0, 200)) await store.write(id, create(now));
  await store.load(ids[0]!, now); // now the most recently used
  await store.write(ids[200]!, create(now));
  const found = async (id: string) => (await store.load(id, now)).status === 'found';
  // The two least recently used (1% of 200) are gone; the others stay.
  expect(await Promise.all([ids[1]!, ids[2]!].map(found))).toEqual([false, false]);
  expect(await Promise.all([ids[0]!, ids[3]!, ids[199]!, ids[200]!].map(found))).toEqual([true, true, true, true]);
});

test('the memory store keeps its own copy of the bytes it is given', async () => {
  const store = memoryStore();
  const id = createSessionId();
  const value = Buffer.from('abc');
  await store.write(id, { ...create(Date.now()), set: new Map([['a', value]]) });
  value.write('xyz');
  const loaded = await store.load(id, Date.now());
  expect(loaded.status === 'found' && Buffer.from(loaded.record.fields.get('a')!).toString()).toBe('abc');
});
