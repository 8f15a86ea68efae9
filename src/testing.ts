import assert from 'node:assert/strict';
import { createSessionId, createWriteToken } from './id.js';
import type { LoadResult, RecordWrite, SessionStore, StoredRecord } from './stores/store.js';

/**
 * One case of the store contract. `run` opens a store with the factory given to {@link storeContractCases},
 * checks one promise of the contract against it, closes it, and rejects (with an `AssertionError` saying what
 * differed) when the store breaks that promise.
 */
export interface StoreContractCase {
  /** What the case checks, as a sentence: use it as the test's name. */
  readonly name: string;
  run(): Promise<void>;
}

/**
 * The contract every {@link SessionStore} keeps, as the session core relies on it: the cases that
 * `redisStore` and `memoryStore` pass, for a store of your own to run in any test runner. Each case gets a
 * new store from `createStore` and closes it; cases use fresh random IDs, so they may share one backend and
 * run concurrently. Two cases wait 120 ms for records with a 50 ms expiry to expire.
 *
 * @example
 * ```ts
 * import { test } from 'node:test'; // or vitest, jest, bun:test
 * for (const { name, run } of storeContractCases(() => myStore())) test(name, run);
 * ```
 */
export function storeContractCases(createStore: () => SessionStore | Promise<SessionStore>): StoreContractCase[] {
  return CASES.map(([name, check]) => ({
    name,
    async run() {
      const store = await createStore();
      try {
        await check(store);
      } finally {
        await store.close();
      }
    },
  }));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);
const text = (value: Uint8Array | null | undefined): string | null | undefined => (value == null ? value : decoder.decode(value));

const MAX_SIZE = 65_536;
/** The `limit` of the listings that are not about it. */
const LIMIT = 100;

function create(now: number, set: Record<string, string> = {}, ttlMs = 60_000): RecordWrite {
  return {
    create: true,
    now,
    ttlMs,
    createdAt: now,
    userId: null,
    lifespan: null,
    schemaVersion: 3,
    set: new Map(Object.entries(set).map(([name, value]) => [name, bytes(value)])),
    remove: [],
    maxSize: MAX_SIZE,
    token: createWriteToken(),
  };
}

const change = (now: number, set: Record<string, string>, remove: string[] = []): RecordWrite => ({ ...create(now, set), create: false, remove });

/** The record a load found; fails the case otherwise. */
function found(result: LoadResult, what: string): StoredRecord {
  assert.equal(result.status, 'found', `${what}: expected the record to be found`);
  return (result as { record: StoredRecord }).record;
}

/** A record's data fields as text, by name. */
const fieldsOf = (record: StoredRecord) => Object.fromEntries([...record.fields].map(([name, value]) => [name, text(value)]));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const CASES: [string, (store: SessionStore) => Promise<void>][] = [
  [
    'a missing record loads as missing',
    async (store) => {
      assert.deepEqual(await store.load(createSessionId(), Date.now()), { status: 'missing' });
    },
  ],
  [
    'create writes fields and metadata; a second create of the same ID is refused',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      assert.equal(await store.write(id, create(now, { a: '1', b: '2' })), 'ok');
      assert.equal(await store.write(id, create(now)), 'exists');
      const record = found(await store.load(id, now), 'after create');
      assert.deepEqual(fieldsOf(record), { a: '1', b: '2' });
      const { createdAt, lastUsedAt, schemaVersion, userId, expiresAt, lifespan } = record;
      assert.deepEqual(
        { createdAt, lastUsedAt, schemaVersion, userId, expiresAt, lifespan },
        { createdAt: now, lastUsedAt: now, schemaVersion: 3, userId: null, expiresAt: now + 60_000, lifespan: null },
      );
    },
  ],
  [
    'an update sets and removes only the named fields, and never recreates a removed record',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '1', b: '2', c: '3' }));
      assert.equal(await store.write(id, change(now, { b: 'two' }, ['c'])), 'ok');
      assert.deepEqual(fieldsOf(found(await store.load(id, now), 'after update')), { a: '1', b: 'two' });
      await store.destroy(id);
      assert.equal(await store.write(id, change(now, { a: 'again' })), 'gone');
      assert.deepEqual(await store.load(id, now), { status: 'missing' });
    },
  ],
  [
    'a write that expects the record applies only while it has that schema version and exactly those data fields',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      const stateOf = async (what: string) => {
        const record = found(await store.load(id, now), what);
        return { schemaVersion: record.schemaVersion, fields: fieldsOf(record) };
      };
      const expecting = (version: number, fields: Record<string, string>, set: Record<string, string>, remove: string[] = []): RecordWrite => ({
        ...change(now, set, remove),
        schemaVersion: 4,
        expect: { schemaVersion: version, fields: new Map(Object.entries(fields).map(([name, value]) => [name, bytes(value)])) },
      });
      await store.write(id, create(now, { old: '1', kept: 'k' }));
      const stale = [
        expecting(2, { old: '1', kept: 'k' }, { new: 'x' }), // another schema version
        expecting(3, { old: '2', kept: 'k' }, { new: 'x' }), // a field changed
        expecting(3, { old: '1' }, { new: 'x' }), // a field more in the record
        expecting(3, { old: '1', kept: 'k', gone: 'g' }, { new: 'x' }), // a field fewer
      ];
      for (const write of stale) assert.equal(await store.write(id, write), 'stale');
      assert.deepEqual(await stateOf('after the stale writes'), { schemaVersion: 3, fields: { old: '1', kept: 'k' } }, 'nothing written');
      assert.equal(await store.write(id, expecting(3, { old: '1', kept: 'k' }, { new: 'x' }, ['old'])), 'ok');
      assert.deepEqual(await stateOf('after the expected write'), { schemaVersion: 4, fields: { new: 'x', kept: 'k' } });
      assert.equal(await store.write(id, expecting(3, { old: '1', kept: 'k' }, { new: 'y' }, ['old'])), 'stale', 'written once');
      await store.moveOut(id, now);
      assert.equal(await store.write(id, expecting(4, { new: 'x', kept: 'k' }, { new: 'y' })), 'gone', 'moved');
      await store.destroy(id);
      assert.equal(await store.write(id, expecting(4, { new: 'x', kept: 'k' }, { new: 'y' })), 'gone', 'removed');
    },
  ],
  [
    'a write that would grow the data past maxSize is refused, writing nothing; one that shrinks it passes',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '12345' }));
      assert.deepEqual(await store.write(id, { ...change(now, { b: '123456' }), maxSize: 10 }), { status: 'too large', size: 11 });
      assert.deepEqual(fieldsOf(found(await store.load(id, now), 'after the refused write')), { a: '12345' });
      assert.equal(await store.write(id, { ...change(now, { a: '1' }), maxSize: 1 }), 'ok');
    },
  ],
  [
    'destroy resolves to whether there was a record to remove',
    async (store) => {
      const id = createSessionId();
      assert.equal(await store.destroy(id), false, 'a record never written');
      await store.write(id, create(Date.now(), { a: '1' }));
      assert.equal(await store.destroy(id), true, 'the record');
      assert.equal(await store.destroy(id), false, 'a record removed already');
      assert.deepEqual(await store.load(id, Date.now()), { status: 'missing' });
    },
  ],
  [
    'compare-and-set swaps only from the expected bytes, and reports the current ones otherwise',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      const swap = (field: string, expected: string | null, next: string) =>
        store.compareAndSet(id, { field, expected: expected === null ? null : bytes(expected), next: bytes(next), now, maxSize: MAX_SIZE, token: createWriteToken() });
      await store.write(id, create(now, { n: '1' }));
      assert.deepEqual(await swap('n', '1', '2'), { status: 'ok' });
      const conflict = await swap('n', '1', '9');
      assert.equal(conflict.status, 'conflict');
      assert.equal(text((conflict as { current: Uint8Array | null }).current), '2');
      assert.deepEqual(await swap('new', null, 'x'), { status: 'ok' });
      assert.equal((await swap('new', null, 'y')).status, 'conflict');
      await store.destroy(id);
      assert.deepEqual(await swap('n', '2', '3'), { status: 'gone' });
    },
  ],
  [
    'a load changes nothing: it returns the expiry and last use as the create set them',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, {}, 30_000));
      for (const at of [now + 5, now + 20_000]) {
        const { lastUsedAt, expiresAt } = found(await store.load(id, at), `a load at +${at - now} ms`);
        assert.deepEqual({ lastUsedAt, expiresAt }, { lastUsedAt: now, expiresAt: now + 30_000 });
      }
    },
  ],
  [
    'touch sets the expiry and last use, and never recreates a removed record',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '1' }, 30_000));
      assert.equal(await store.touch(id, { now: now + 5, ttlMs: 60_000, userId: null }), 'ok');
      const { lastUsedAt, expiresAt } = found(await store.load(id, now + 5), 'after the touch');
      assert.deepEqual({ lastUsedAt, expiresAt }, { lastUsedAt: now + 5, expiresAt: now + 5 + 60_000 });
      found(await store.load(id, now + 45_000), 'past the expiry the create set, before the touched one');
      await store.destroy(id);
      assert.equal(await store.touch(id, { now: now + 10, ttlMs: 60_000, userId: null }), 'gone');
      assert.deepEqual(await store.load(id, now + 10), { status: 'missing' });
    },
  ],
  [
    'a touch never sets an earlier expiry than the record has: one sent again after a later touch changes nothing (a resend after a lost reply)',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '1' }, 30_000));
      assert.equal(await store.touch(id, { now: now + 10, ttlMs: 60_000, userId: null }), 'ok');
      assert.equal(await store.touch(id, { now: now + 5, ttlMs: 60_000, userId: null }), 'ok', 'the earlier touch, sent again');
      const { lastUsedAt, expiresAt } = found(await store.load(id, now + 10), 'after the touches');
      assert.deepEqual({ lastUsedAt, expiresAt }, { lastUsedAt: now + 10, expiresAt: now + 10 + 60_000 });
    },
  ],
  [
    'only a create sets the expiry: updates and compare-and-set leave it to touch',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { n: '1' }, 30_000));
      assert.equal(await store.write(id, { ...change(now, { a: '1' }), ttlMs: 60_000 }), 'ok');
      assert.equal((await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: bytes('2'), now, maxSize: MAX_SIZE, token: createWriteToken() })).status, 'ok');
      assert.equal(found(await store.load(id, now), 'after the writes').expiresAt, now + 30_000);
    },
  ],
  [
    "a record's own lifespan is kept as created, through touches and writes, and moveOut returns it",
    async (store) => {
      const now = Date.now();
      for (const lifespan of [2_592_000_000, 'browser', null] as const) {
        const id = createSessionId();
        await store.write(id, { ...create(now, { a: '1' }), lifespan });
        assert.equal(await store.touch(id, { now: now + 5, ttlMs: 60_000, userId: null }), 'ok');
        assert.equal(await store.write(id, change(now + 5, { a: '2' })), 'ok');
        assert.equal(found(await store.load(id, now + 5), `a record of lifespan ${lifespan}`).lifespan, lifespan);
        const moved = await store.moveOut(id, now + 5);
        assert.equal(moved.status === 'found' && moved.record.lifespan, lifespan);
      }
    },
  ],
  [
    'moveOut returns the record and leaves a mark: loads read it as moved, and every later change is refused',
    async (store) => {
      const id = createSessionId();
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      await store.write(id, { ...create(now, { a: '1' }, 30_000), userId: user });
      const moved = await store.moveOut(id, now);
      assert.equal(moved.status, 'found');
      const record = (moved as { record: StoredRecord }).record;
      assert.deepEqual(fieldsOf(record), { a: '1' });
      assert.deepEqual({ createdAt: record.createdAt, userId: record.userId, expiresAt: record.expiresAt }, { createdAt: now, userId: user, expiresAt: now + 30_000 });
      assert.deepEqual(await store.load(id, now), { status: 'moved' });
      assert.equal(await store.write(id, change(now, { a: '2' })), 'gone');
      assert.deepEqual(await store.compareAndSet(id, { field: 'a', expected: bytes('1'), next: bytes('2'), now, maxSize: MAX_SIZE, token: createWriteToken() }), { status: 'gone' });
      assert.equal(await store.touch(id, { now, ttlMs: 60_000, userId: user }), 'gone');
      assert.equal(await store.bindUser(id, user, now + 60_000), 'gone');
      assert.deepEqual(await store.moveOut(id, now), { status: 'gone' });
      assert.deepEqual(await store.moveOut(createSessionId(), now), { status: 'gone' });
    },
  ],
  [
    'a record is bound to a user on creation or later, and listed with its metadata under that user',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const [created, bound] = [createSessionId(), createSessionId()];
      const now = Date.now();
      await store.write(created, { ...create(now), userId: user });
      await store.write(bound, create(now + 1));
      assert.equal(await store.bindUser(bound, user, now + 60_000), 'ok');
      assert.equal(await store.bindUser(createSessionId(), user, now + 60_000), 'gone');
      assert.equal(found(await store.load(bound, now + 1), 'the bound record').userId, user);
      const listed = await store.userSessions(user, now + 1, LIMIT);
      assert.deepEqual(
        listed.sort((a, b) => a.createdAt - b.createdAt),
        [
          { id: created, createdAt: now, lastUsedAt: now },
          { id: bound, createdAt: now + 1, lastUsedAt: now + 1 },
        ],
      );
      assert.deepEqual(await store.userSessions(`other-${user}`, now, LIMIT), []);
    },
  ],
  [
    "a user's list drops records destroyed, expired, unbound or bound to another user",
    async (store) => {
      const user = `user-${createSessionId()}`;
      const ids = Array.from({ length: 5 }, () => createSessionId());
      const now = Date.now();
      for (const id of ids) await store.write(id, { ...create(now, {}, id === ids[1] ? 50 : 60_000), userId: user });
      await store.destroy(ids[0]!);
      await store.unbindUser(ids[2]!, user);
      await store.bindUser(ids[3]!, `other-${user}`, now + 60_000);
      await pause(120);
      assert.deepEqual((await store.userSessions(user, Date.now(), LIMIT)).map((entry) => entry.id), [ids[4]]);
      assert.deepEqual((await store.userSessions(`other-${user}`, Date.now(), LIMIT)).map((entry) => entry.id), [ids[3]]);
    },
  ],
  [
    "revoking all of a user's sessions removes every record bound to it, and only those",
    async (store) => {
      const user = `user-${createSessionId()}`;
      const [first, second, rebound, stranger] = Array.from({ length: 4 }, () => createSessionId()) as [string, string, string, string];
      const now = Date.now();
      for (const id of [first, second, rebound]) await store.write(id, { ...create(now), userId: user });
      await store.bindUser(rebound, `other-${user}`, now + 60_000);
      await store.write(stranger, create(now));
      assert.deepEqual([...(await store.revokeSessions(user, () => true, null))].sort(), [first, second].sort());
      for (const id of [first, second]) assert.deepEqual(await store.load(id, now), { status: 'missing' });
      for (const id of [rebound, stranger]) found(await store.load(id, now), 'a record not bound to the revoked user');
      assert.deepEqual(await store.userSessions(user, now, LIMIT), []);
      assert.deepEqual(await store.revokeSessions(user, () => true, null), []);
    },
  ],
  [
    "a user's list holds at most `limit` records: those whose index entry expires last",
    async (store) => {
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      // Expiring 10, 20, 30, 40 and 50 seconds from now.
      const ids = Array.from({ length: 5 }, () => createSessionId());
      for (const [position, id] of ids.entries()) await store.write(id, { ...create(now, {}, (position + 1) * 10_000), userId: user });
      const listed = async (limit: number) => (await store.userSessions(user, now, limit)).map((entry) => entry.id).sort();
      assert.deepEqual(await listed(2), [ids[3], ids[4]].sort());
      assert.deepEqual(await listed(5), [...ids].sort());
      assert.deepEqual(await listed(9), [...ids].sort());
    },
  ],
  [
    'trimming keeps a user to `max` records: it ends those that expire first but `keep`, and resolves to them',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      const ids = Array.from({ length: 5 }, () => createSessionId()) as [string, string, string, string, string];
      for (const [position, id] of ids.entries()) await store.write(id, { ...create(now, {}, (position + 1) * 10_000), userId: user });
      // The kept record (the one just bound) may expire first: a login with a shorter lifespan than the others.
      assert.deepEqual([...(await store.trimUserSessions(user, 3, ids[0], now))].sort(), [ids[1], ids[2]].sort());
      for (const id of [ids[1], ids[2]]) assert.deepEqual(await store.load(id, now), { status: 'missing' });
      for (const id of [ids[0], ids[3], ids[4]]) found(await store.load(id, now), 'a record within max');
      assert.deepEqual(await store.trimUserSessions(user, 3, ids[0], now), [], 'within max: nothing ended');
      assert.deepEqual((await store.userSessions(user, now, LIMIT)).map((entry) => entry.id).sort(), [ids[0], ids[3], ids[4]].sort());
    },
  ],
  [
    'trimming leaves alone the old ID of a record just moved: its session counts once, at its new ID',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      const [moved, movedTo, other] = Array.from({ length: 3 }, () => createSessionId()) as [string, string, string];
      await store.write(moved, { ...create(now, {}, 10_000), userId: user });
      await store.write(other, { ...create(now, {}, 20_000), userId: user });
      assert.equal((await store.moveOut(moved, now, movedTo)).status, 'found');
      assert.equal(await store.write(movedTo, { ...create(now, {}, 30_000), userId: user }), 'ok');
      assert.deepEqual(await store.trimUserSessions(user, 2, movedTo, now), []);
      assert.deepEqual(await store.load(moved, now), { status: 'moved' });
      for (const id of [movedTo, other]) found(await store.load(id, now), 'a session within max');
    },
  ],
  [
    'listing, trimming and revoking reach every record of a user with more than a batch (100) of them',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      const ids = Array.from({ length: 250 }, () => createSessionId());
      for (const id of ids) await store.write(id, { ...create(now), userId: user });
      const listed = async (limit: number) => (await store.userSessions(user, now, limit)).map((entry) => entry.id);
      assert.equal((await listed(250)).length, 250);
      assert.equal((await listed(120)).length, 120);
      const [kept] = ids as [string];
      // A store may end fewer than all those over max in one call: the core trims again at the next login.
      const trimmed: string[] = [];
      for (let call = 0; call < 10; call++) {
        const ended = await store.trimUserSessions(user, 100, kept, now);
        if (ended.length === 0) break;
        trimmed.push(...ended);
      }
      assert.equal(new Set(trimmed).size, 150, 'trimmed to max');
      const left = await listed(250);
      assert.equal(left.length, 100);
      assert.ok(left.includes(kept), 'the kept record stays');
      const [target] = left.filter((id) => id !== kept) as [string];
      assert.deepEqual(await store.revokeSessions(user, (id) => id === target, null), [target], 'one selected record of many');
      assert.equal((await store.revokeSessions(user, () => true, kept)).length, 98, 'all the others');
      assert.deepEqual(await listed(250), [kept]);
    },
  ],
  [
    'bindUser records the device, listed with the record and carried by a move; binding without one drops it',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now));
      assert.equal(await store.bindUser(id, user, now + 60_000, '{"label":"Laptop"}'), 'ok');
      assert.deepEqual(await store.userSessions(user, now, LIMIT), [{ id, createdAt: now, lastUsedAt: now, device: '{"label":"Laptop"}' }]);
      const moved = await store.moveOut(id, now, createSessionId());
      assert.equal(moved.status === 'found' && moved.record.device, '{"label":"Laptop"}', 'the device moves with the record');
      const other = createSessionId();
      await store.write(other, { ...create(now), userId: user, device: '{"ip":"::1"}' });
      assert.equal(await store.bindUser(other, user, now + 60_000), 'ok');
      assert.equal(found(await store.load(other, now), 'after binding without a device').device, undefined);
    },
  ],
  [
    'revokeSessions follows a move to the new ID: removing it there, or refusing its create; keep is spared',
    async (store) => {
      const user = `user-${createSessionId()}`;
      const [created, inFlight, kept, keptNew] = Array.from({ length: 4 }, () => createSessionId()) as [string, string, string, string];
      const now = Date.now();
      for (const id of [created, inFlight, kept]) await store.write(id, { ...create(now, { a: '1' }), userId: user });
      // Moved, and the new record written.
      const createdNew = createSessionId();
      assert.equal((await store.moveOut(created, now, createdNew)).status, 'found');
      assert.equal(await store.write(createdNew, { ...create(now, { a: '1' }), userId: user }), 'ok');
      // Moved, the new record not written yet.
      const inFlightNew = createSessionId();
      assert.equal((await store.moveOut(inFlight, now, inFlightNew)).status, 'found');
      // The caller's own session, moved moments ago: its old entry leads to it, and is not followed.
      assert.equal((await store.moveOut(kept, now, keptNew)).status, 'found');
      assert.equal(await store.write(keptNew, { ...create(now, { a: '1' }), userId: user }), 'ok');

      const ended = await store.revokeSessions(user, () => true, keptNew);
      // One ID per session: the moved and recreated one by its old or its new ID, both of which lead to it.
      assert.equal(ended.length, 2, 'one ID per session');
      assert.ok(ended.includes(inFlight), 'the session moved, its new record not written yet');
      assert.ok(ended.includes(created) !== ended.includes(createdNew), 'the session moved and recreated, once');
      assert.deepEqual(await store.load(createdNew, now), { status: 'missing' });
      // The move's create, and its put-back of the old record, are refused: the session never comes back.
      assert.equal(await store.write(inFlightNew, { ...create(now, { a: '1' }), userId: user }), 'gone');
      assert.equal(await store.write(inFlight, { ...create(now, { a: '1' }), userId: user }), 'gone');
      for (const id of [created, inFlight, inFlightNew]) assert.deepEqual(await store.load(id, now), { status: 'missing' });
      found(await store.load(keptNew, now), 'the kept session');
      assert.deepEqual(await store.load(kept, now), { status: 'moved' });
      assert.deepEqual((await store.userSessions(user, now, LIMIT)).map((entry) => entry.id), [keptNew]);
    },
  ],
  [
    "revokeSessions spares the kept session wherever another request moved it after the caller read it",
    async (store) => {
      const user = `user-${createSessionId()}`;
      const [kept, keptNew, keptNewer, other] = Array.from({ length: 4 }, () => createSessionId()) as [string, string, string, string];
      const now = Date.now();
      for (const id of [kept, other]) await store.write(id, { ...create(now, { a: '1' }), userId: user });
      // The caller read `kept`; another request then moved it twice, the last move's record not written yet.
      assert.equal((await store.moveOut(kept, now, keptNew)).status, 'found');
      assert.equal(await store.write(keptNew, { ...create(now, { a: '1' }), userId: user }), 'ok');
      assert.equal((await store.moveOut(keptNew, now, keptNewer)).status, 'found');
      assert.deepEqual(await store.revokeSessions(user, () => true, kept), [other]);
      assert.equal(await store.write(keptNewer, { ...create(now, { a: '1' }), userId: user }), 'ok', 'the last move completes');
      found(await store.load(keptNewer, now), 'the kept session at its newest ID');
      assert.deepEqual(await store.load(other, now), { status: 'missing' });
    },
  ],
  [
    'destroy follows a move made since the record was read: the new record is removed, or its create refused',
    async (store) => {
      const [created, inFlight, createdNew, inFlightNew] = Array.from({ length: 4 }, () => createSessionId()) as [string, string, string, string];
      const now = Date.now();
      for (const id of [created, inFlight]) await store.write(id, create(now, { a: '1' }));
      // Moved, and the new record written.
      assert.equal((await store.moveOut(created, now, createdNew)).status, 'found');
      assert.equal(await store.write(createdNew, create(now, { a: '1' })), 'ok');
      // Moved, the new record not written yet.
      assert.equal((await store.moveOut(inFlight, now, inFlightNew)).status, 'found');
      assert.equal(await store.destroy(created), true, 'the session moved and recreated');
      assert.equal(await store.destroy(inFlight), true, 'the session moved, its new record not written yet');
      // The move's create, and its put-back of the old record, are refused: no record of the session lives on.
      assert.equal(await store.write(inFlightNew, create(now, { a: '1' })), 'gone');
      assert.equal(await store.write(inFlight, create(now, { a: '1' })), 'gone');
      for (const id of [created, createdNew, inFlight, inFlightNew]) assert.deepEqual(await store.load(id, now), { status: 'missing' });
      assert.equal(await store.destroy(created), false, 'ended already');
    },
  ],
  [
    'destroy and revokeSessions asked again after following a move end nothing more and revive nothing; a call never reports an end another made',
    async (store) => {
      // A backend client may send a step of the call again (a resend after a lost reply): that step must answer as
      // its first run did, so the end still reaches the new ID. Asked again by another call, the session is ended.
      const user = `user-${createSessionId()}`;
      const now = Date.now();
      const [created, createdNew, inFlight, inFlightNew, bound, boundNew] = Array.from({ length: 6 }, () => createSessionId()) as [string, string, string, string, string, string];
      await store.write(created, create(now, { a: '1' }));
      await store.write(inFlight, create(now, { a: '1' }));
      await store.write(bound, { ...create(now, { a: '1' }), userId: user });
      assert.equal((await store.moveOut(created, now, createdNew)).status, 'found');
      assert.equal(await store.write(createdNew, create(now, { a: '1' })), 'ok');
      assert.equal((await store.moveOut(inFlight, now, inFlightNew)).status, 'found');
      assert.equal((await store.moveOut(bound, now, boundNew)).status, 'found');

      assert.equal(await store.destroy(created), true);
      assert.equal(await store.destroy(created), false, 'destroyed again, by its old ID');
      assert.equal(await store.destroy(createdNew), false, 'destroyed again, by its new ID');
      assert.equal(await store.destroy(inFlight), true);
      assert.equal(await store.destroy(inFlight), false, 'a session moved and not yet created, destroyed again');
      assert.deepEqual(await store.revokeSessions(user, () => true, null), [bound]);
      assert.deepEqual(await store.revokeSessions(user, () => true, null), [], 'revoked again');
      assert.equal(await store.destroy(bound), false, 'destroyed after a revoke ended it: the revoke told it');

      for (const [id, what] of [[inFlightNew, 'the move\'s create'], [boundNew, 'the move\'s create'], [created, 'a put-back'], [inFlight, 'a put-back'], [bound, 'a put-back']] as const) {
        assert.equal(await store.write(id, { ...create(now, { a: '1' }), ...(id === boundNew || id === bound ? { userId: user } : {}) }), 'gone', what);
      }
      for (const id of [created, createdNew, inFlight, inFlightNew, bound, boundNew]) assert.deepEqual(await store.load(id, now), { status: 'missing' });
      assert.deepEqual(await store.userSessions(user, now, LIMIT), []);
    },
  ],
  [
    'a failed move puts its record back over its own moved mark',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '1' }));
      assert.equal((await store.moveOut(id, now, createSessionId())).status, 'found');
      assert.equal(await store.write(id, create(now, { a: '1' })), 'ok');
      found(await store.load(id, now), 'the record put back');
    },
  ],
  [
    'compare-and-set with next null removes the field only while it holds the expected bytes',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { 'flash:notice': 'hi', n: '1' }));
      const take = { field: 'flash:notice', expected: bytes('hi'), next: null, now, maxSize: MAX_SIZE };
      const [first, second] = await Promise.all([store.compareAndSet(id, { ...take, token: createWriteToken() }), store.compareAndSet(id, { ...take, token: createWriteToken() })]);
      assert.deepEqual([first, second], [{ status: 'ok' }, { status: 'conflict', current: null }], 'one of two concurrent removals wins');
      assert.deepEqual(fieldsOf(found(await store.load(id, now), 'after the removal')), { n: '1' });
      // A record over maxSize may still lose a field.
      assert.deepEqual(await store.compareAndSet(id, { field: 'n', expected: bytes('1'), next: null, now, maxSize: 0, token: createWriteToken() }), { status: 'ok' });
      await store.destroy(id);
      assert.deepEqual(await store.compareAndSet(id, { ...take, token: createWriteToken() }), { status: 'gone' });
    },
  ],
  [
    'a change sent again with the same token is applied once, and answers what it answered the first time (a resend after a lost reply)',
    async (store) => {
      // A backend client may send a command again once it has reconnected, when the reply to the first was
      // lost: the store tells the two runs apart by the call's token, or by the move's new ID.
      const id = createSessionId();
      const now = Date.now();
      const created = create(now, { n: '1', 'flash:notice': 'hi' });
      assert.equal(await store.write(id, created), 'ok');
      assert.equal(await store.write(id, created), 'ok', 'a create sent again: not "exists"');
      const written = change(now, { a: 'first' });
      assert.equal(await store.write(id, written), 'ok');
      assert.equal(await store.write(id, change(now, { a: 'second' })), 'ok');
      assert.equal(await store.write(id, written), 'ok', 'an update sent again');
      const increment = { field: 'n', expected: bytes('1'), next: bytes('2'), now, maxSize: MAX_SIZE, token: createWriteToken() };
      assert.deepEqual(await store.compareAndSet(id, increment), { status: 'ok' });
      assert.deepEqual(await store.compareAndSet(id, increment), { status: 'ok' }, 'a compare-and-set sent again: not "conflict"');
      const take = { field: 'flash:notice', expected: bytes('hi'), next: null, now, maxSize: MAX_SIZE, token: createWriteToken() };
      assert.deepEqual(await store.compareAndSet(id, take), { status: 'ok' });
      assert.deepEqual(await store.compareAndSet(id, take), { status: 'ok' }, 'a take sent again: the value is the first run\'s to return');
      assert.deepEqual(fieldsOf(found(await store.load(id, now), 'after the resends')), { n: '2', a: 'second' }, 'each change applied once');
      const to = createSessionId();
      const moved = await store.moveOut(id, now, to);
      const again = await store.moveOut(id, now, to);
      assert.equal(again.status, 'found', 'a move sent again: the record it took');
      assert.deepEqual(fieldsOf((again as { record: StoredRecord }).record), fieldsOf((moved as { record: StoredRecord }).record));
      assert.deepEqual(await store.moveOut(id, now, createSessionId()), { status: 'gone' }, 'another move of the moved record');
    },
  ],
  [
    'an update by an older schema version than the record\'s is refused, writing nothing; flash values stay free',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, { ...create(now, { cart: 'v3', 'flash:notice': 'hi' }), schemaVersion: 3 });
      assert.equal(await store.write(id, { ...change(now, { cartItems: 'v2' }), schemaVersion: 2 }), 'newer');
      const swap = { field: 'cartItems', expected: null, next: bytes('v2'), now, maxSize: MAX_SIZE, token: createWriteToken() };
      assert.deepEqual(await store.compareAndSet(id, { ...swap, schemaVersion: 2 }), { status: 'newer' });
      const record = found(await store.load(id, now), 'after the refused writes');
      assert.deepEqual({ schemaVersion: record.schemaVersion, fields: fieldsOf(record) }, { schemaVersion: 3, fields: { cart: 'v3', 'flash:notice': 'hi' } });
      const take = { field: 'flash:notice', expected: bytes('hi'), next: null, now, maxSize: MAX_SIZE, token: createWriteToken() };
      assert.deepEqual(await store.compareAndSet(id, take), { status: 'ok' }, 'a flash take names no schema version');
    },
  ],
  [
    'an expired record is never returned',
    async (store) => {
      const id = createSessionId();
      await store.write(id, create(Date.now(), { a: '1' }, 50));
      await pause(120);
      assert.deepEqual(await store.load(id, Date.now()), { status: 'missing' });
    },
  ],
  [
    'a load at a time past the expiry finds the record missing, and does not revive it',
    async (store) => {
      const id = createSessionId();
      const now = Date.now();
      await store.write(id, create(now, { a: '1' }, 30_000));
      assert.deepEqual(await store.load(id, now + 30_001), { status: 'missing' });
    },
  ],
];
