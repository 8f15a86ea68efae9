import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { memoryStore, redisStore, type ExpiryPolicy, type RecordWrite, type SessionStore } from '../src/index.js';
import type { Redis } from 'ioredis';
import { createSessionId } from '../src/id.js';
import { TOUCH_SCRIPT } from '../src/stores/redis-scripts.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const policy: ExpiryPolicy = { idleMs: 60_000, absoluteMs: null, touchAfterMs: 10_000 };
const bytes = (text: string) => Buffer.from(text);
const create = (now: number, set: Record<string, string> = {}, ttlMs = 60_000): RecordWrite => ({
  create: true,
  now,
  ttlMs,
  createdAt: now,
  userId: null,
  schemaVersion: 3,
  set: new Map(Object.entries(set).map(([k, v]) => [k, bytes(v)])),
  remove: [],
  maxSize: 65_536,
});
const change = (now: number, set: Record<string, string>, remove: string[] = []): RecordWrite => ({ ...create(now, set), create: false, remove });

let redis: RedisServer;
const stores: Record<string, () => SessionStore> = {};
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));
stores['redis'] = () => redisStore({ redis: () => redis.client() });
stores['memory'] = () => memoryStore();

/** The same contract, held by every store: what the session core relies on. */
describe.each(Object.keys(stores))('%s store', (name) => {
  let store: SessionStore;
  beforeAll(() => {
    store = stores[name]!();
  });
  afterAll(() => store.close());

  test('a missing record loads as missing', async () => {
    expect(await store.load(createSessionId(), policy, Date.now())).toEqual({ status: 'missing' });
  });

  test('create writes fields and metadata; a second create of the same ID is refused', async () => {
    const id = createSessionId();
    const now = Date.now();
    expect(await store.write(id, create(now, { a: '1', b: '2' }))).toBe('ok');
    expect(await store.write(id, create(now))).toBe('exists');
    const loaded = await store.load(id, policy, now);
    expect(loaded.status).toBe('found');
    if (loaded.status !== 'found') return;
    expect(Object.fromEntries([...loaded.record.fields].map(([k, v]) => [k, Buffer.from(v).toString()]))).toEqual({ a: '1', b: '2' });
    expect(loaded.record).toMatchObject({ createdAt: now, lastUsedAt: now, schemaVersion: 3, refreshed: false });
  });

  test('an update sets and removes only the named fields, and never recreates a removed record', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, { a: '1', b: '2', c: '3' }));
    expect(await store.write(id, change(now, { b: 'two' }, ['c']))).toBe('ok');
    const loaded = await store.load(id, policy, now);
    if (loaded.status !== 'found') throw new Error('not found');
    expect([...loaded.record.fields.keys()].sort()).toEqual(['a', 'b']);
    expect(Buffer.from(loaded.record.fields.get('b')!).toString()).toBe('two');
    await store.destroy(id);
    expect(await store.write(id, change(now, { a: 'again' }))).toBe('gone');
    expect(await store.load(id, policy, now)).toEqual({ status: 'missing' });
  });

  test('compare-and-set swaps only from the expected bytes, and reports the current ones otherwise', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, { n: '1' }));
    expect(await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: bytes('2'), now, maxSize: 65_536 })).toEqual({ status: 'ok' });
    const conflict = await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: bytes('9'), now, maxSize: 65_536 });
    expect(conflict.status).toBe('conflict');
    expect(Buffer.from((conflict as { current: Uint8Array }).current).toString()).toBe('2');
    expect(await store.compareAndSet(id, { field: 'new', expected: null, next: bytes('x'), now, maxSize: 65_536 })).toEqual({ status: 'ok' });
    expect((await store.compareAndSet(id, { field: 'new', expected: null, next: bytes('y'), now, maxSize: 65_536 })).status).toBe('conflict');
    await store.destroy(id);
    expect(await store.compareAndSet(id, { field: 'n', expected: bytes('2'), next: bytes('3'), now, maxSize: 65_536 })).toEqual({ status: 'gone' });
  });

  test('a load refreshes the expiry only once it would extend it by touchAfter', async () => {
    const fresh = createSessionId();
    const aged = createSessionId();
    const now = Date.now();
    await store.write(fresh, create(now, {}, 59_000));
    // As if written 30 s ago: 30 s of its 60 s left.
    await store.write(aged, create(now, {}, 30_000));
    const early = await store.load(fresh, policy, now + 5);
    expect(early.status === 'found' && early.record).toMatchObject({ refreshed: false, lastUsedAt: now });
    const late = await store.load(aged, policy, now + 5);
    expect(late.status === 'found' && late.record).toMatchObject({ refreshed: true, lastUsedAt: now + 5, ttlMs: 60_000 });
  });

  test('only a create sets the expiry: updates and compare-and-set leave it to load', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, { n: '1' }, 30_000));
    expect(await store.write(id, { ...change(now, { a: '1' }), ttlMs: 60_000 })).toBe('ok');
    expect((await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: bytes('2'), now, maxSize: 65_536 })).status).toBe('ok');
    // Not refreshed by this load (touchAfter is 10 s): the record still has the 30 s it was created with.
    const loaded = await store.load(id, { ...policy, idleMs: 35_000 }, now);
    expect(loaded.status === 'found' && loaded.record).toMatchObject({ refreshed: false });
    expect(loaded.status === 'found' && loaded.record.ttlMs).toBeLessThanOrEqual(30_000);
  });

  test('a record past its absolute lifetime is gone, however recently used', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now));
    const absolute = { ...policy, absoluteMs: 5000 };
    expect((await store.load(id, absolute, now + 4000)).status).toBe('found');
    expect(await store.load(id, absolute, now + 5000)).toEqual({ status: 'expired', reason: 'absolute', userId: null });
    // Removed by the load that found it over.
    expect(await store.load(id, policy, now + 5000)).toEqual({ status: 'missing' });
  });

  test('a record is bound to a user on creation or later, and listed with its metadata under that user', async () => {
    const user = `user-${createSessionId()}`;
    const [created, bound] = [createSessionId(), createSessionId()];
    const now = Date.now();
    await store.write(created, { ...create(now), userId: user });
    await store.write(bound, create(now + 1));
    expect(await store.bindUser(bound, user, now + 60_000)).toBe('ok');
    expect(await store.bindUser(createSessionId(), user, now + 60_000)).toBe('gone');
    const loaded = await store.load(bound, policy, now + 1);
    expect(loaded.status === 'found' && loaded.record.userId).toBe(user);
    const listed = await store.userSessions(user, now + 1);
    expect(listed.sort((a, b) => a.createdAt - b.createdAt)).toEqual([
      { id: created, createdAt: now, lastUsedAt: now },
      { id: bound, createdAt: now + 1, lastUsedAt: now + 1 },
    ]);
    expect(await store.userSessions(`other-${user}`, now)).toEqual([]);
  });

  test("a user's list drops records destroyed, expired, unbound or bound to another user", async () => {
    const user = `user-${createSessionId()}`;
    const ids = Array.from({ length: 5 }, () => createSessionId());
    const now = Date.now();
    for (const id of ids) await store.write(id, { ...create(now, {}, id === ids[1] ? 50 : 60_000), userId: user });
    await store.destroy(ids[0]!);
    await store.unbindUser(ids[2]!, user);
    await store.bindUser(ids[3]!, `other-${user}`, now + 60_000);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect((await store.userSessions(user, Date.now())).map((entry) => entry.id)).toEqual([ids[4]]);
    expect((await store.userSessions(`other-${user}`, Date.now())).map((entry) => entry.id)).toEqual([ids[3]]);
  });

  test("revoking a user removes every record bound to it, and only those", async () => {
    const user = `user-${createSessionId()}`;
    const [first, second, rebound, stranger] = Array.from({ length: 4 }, () => createSessionId());
    const now = Date.now();
    for (const id of [first!, second!, rebound!]) await store.write(id, { ...create(now), userId: user });
    await store.bindUser(rebound!, `other-${user}`, now + 60_000);
    await store.write(stranger!, create(now));
    expect(await store.revokeUser(user)).toBe(2);
    for (const id of [first!, second!]) expect(await store.load(id, policy, now)).toEqual({ status: 'missing' });
    for (const id of [rebound!, stranger!]) expect((await store.load(id, policy, now)).status).toBe('found');
    expect(await store.userSessions(user, now)).toEqual([]);
    expect(await store.revokeUser(user)).toBe(0);
  });

  test('an expired record is never returned: expired when the store can still tell, else missing', async () => {
    const id = createSessionId();
    await store.write(id, { ...create(Date.now(), { a: '1' }, 50), userId: 'u-1' });
    await new Promise((resolve) => setTimeout(resolve, 120));
    // Redis has dropped the key at its expiry; the memory store finds it over and removes it.
    const expected = name === 'redis' ? { status: 'missing' } : { status: 'expired', reason: 'idle', userId: 'u-1' };
    expect(await store.load(id, policy, Date.now())).toEqual(expected);
    expect(await store.load(id, policy, Date.now())).toEqual({ status: 'missing' });
  });

  test('a load at a time past the expiry finds the record expired, by its idle timeout, and does not revive it', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, { a: '1' }, 30_000));
    expect(await store.load(id, policy, now + 30_001)).toEqual({ status: 'expired', reason: 'idle', userId: null });
    expect((await store.load(id, policy, now + 30_002)).status).not.toBe('found');
  });

  test('compare-and-set with next null removes the field only while it holds the expected bytes', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, { 'flash:notice': 'hi', n: '1' }));
    const take = { field: 'flash:notice', expected: bytes('hi'), next: null, now, maxSize: 65_536 };
    const [first, second] = await Promise.all([store.compareAndSet(id, take), store.compareAndSet(id, take)]);
    expect([first, second]).toEqual([{ status: 'ok' }, { status: 'conflict', current: null }]);
    const loaded = await store.load(id, policy, now);
    expect(loaded.status === 'found' && [...loaded.record.fields.keys()]).toEqual(['n']);
    // A record over maxSize may still lose a field.
    expect(await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: null, now, maxSize: 0 })).toEqual({ status: 'ok' });
    await store.destroy(id);
    expect(await store.compareAndSet(id, take)).toEqual({ status: 'gone' });
  });

  test('revokeUser tells the ID of each record it removed', async () => {
    const user = `user-${createSessionId()}`;
    const ids = [createSessionId(), createSessionId()];
    const now = Date.now();
    for (const id of ids) await store.write(id, { ...create(now), userId: user });
    const told: string[] = [];
    expect(await store.revokeUser(user, (id) => told.push(id))).toBe(2);
    expect(told.sort()).toEqual([...ids].sort());
  });
});

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

  test('a record keeps its expiry in the hash, set on creation and on each refresh', async () => {
    const id = createSessionId();
    const now = Date.now();
    await store.write(id, create(now, {}, 30_000));
    expect((await hashOf(id))['m:e']).toBe(String(now + 30_000));
    const loaded = await store.load(id, policy, now + 5);
    expect(loaded.status === 'found' && loaded.record).toMatchObject({ refreshed: true, ttlMs: 60_000 });
    expect((await hashOf(id))['m:e']).toBe(String(now + 5 + 60_000));
    expect(await inspect.pttl(`session:${id}`)).toBeGreaterThan(55_000);
  });

  test('a hash without a recorded expiry, or without a TTL, gets both on its first load', async () => {
    const id = createSessionId();
    const now = Date.now();
    // As a hand-written record (or a PERSIST) would leave it: no m:e, no TTL.
    await inspect.hset(`session:${id}`, 'm:c', now, 'm:u', now, 'm:v', 3, 'd:a', '1');
    const loaded = await store.load(id, policy, now);
    expect(loaded.status === 'found' && loaded.record).toMatchObject({ refreshed: true, ttlMs: 60_000, lastUsedAt: now });
    expect((await hashOf(id))['m:e']).toBe(String(now + 60_000));
    expect(await inspect.pttl(`session:${id}`)).toBeGreaterThan(55_000);
  });

  test('the refresh never recreates a record removed since the read', async () => {
    // The refresh is a second command: between the two, another request may have destroyed the session.
    const key = `session:${createSessionId()}`;
    const now = Date.now();
    expect(await inspect.eval(TOUCH_SCRIPT, 1, key, now, 60_000, now + 60_000)).toBe(0);
    expect(await inspect.exists(key)).toBe(0);
  });
});

test('the memory store stays within maxSessions, evicting the least recently used', async () => {
  const store = memoryStore({ maxSessions: 3 });
  const ids = Array.from({ length: 4 }, () => createSessionId());
  const now = Date.now();
  for (const id of ids.slice(0, 3)) await store.write(id, create(now));
  await store.load(ids[0]!, policy, now); // now the most recently used
  await store.write(ids[3]!, create(now));
  expect((await store.load(ids[1]!, policy, now)).status).toBe('missing');
  for (const id of [ids[0]!, ids[2]!, ids[3]!]) expect((await store.load(id, policy, now)).status).toBe('found');
});

test('past maxSessions the memory store evicts the least recently used 1% at once, and never holds more', async () => {
  const store = memoryStore({ maxSessions: 200 });
  const ids = Array.from({ length: 201 }, () => createSessionId());
  const now = Date.now();
  for (const id of ids.slice(0, 200)) await store.write(id, create(now));
  await store.load(ids[0]!, policy, now); // now the most recently used
  await store.write(ids[200]!, create(now));
  const found = async (id: string) => (await store.load(id, policy, now)).status === 'found';
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
  const loaded = await store.load(id, policy, Date.now());
  expect(loaded.status === 'found' && Buffer.from(loaded.record.fields.get('a')!).toString()).toBe('abc');
});
