import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { decodeValue } from '../src/codec.js';
import {
  createSessionManager,
  redisStore,
  SessionFieldDroppedError,
  SessionMigrationError,
  type RecordWrite,
  type SessionError,
  type SessionMigrations,
  type SessionStore,
  type WriteResult,
} from '../src/index.js';
import type { AppRouter as MigratedAppRouter } from '../examples/schema-migrations.js';
import { CookieJar, serveStandalone, trpcClient, type Served } from './helpers/http.js';
import { freePort } from './helpers/redis-server.js';
import { handleFor, requestFor, useStores } from './helpers/request.js';

/*
 * A shop renames its basket in a deploy: version 1 stored it as `cartItems`, version 2 as `cart` (migration 2);
 * version 3 merges the lines of one product (migration 3, which reads `cart`, so it only works after migration 2).
 * Servers of each version run side by side over one store, as in a rolling deploy, and one browser (one
 * cookie jar) talks to them over real HTTP with the real tRPC client.
 */

const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });
type Item = z.infer<typeof item>;
const v1Schema = z.object({ cartItems: z.array(item).default([]), visits: z.number().int().default(0), note: z.string().optional() });
const schema = z.object({ cart: z.array(item).default([]), visits: z.number().int().default(0), note: z.string().optional() });

const renameCart: SessionMigrations[number] = ({ cartItems, ...rest }) => ({ ...rest, cart: cartItems });
const mergeLines: SessionMigrations[number] = (fields) => {
  const merged = new Map<string, number>();
  for (const line of (fields.cart ?? []) as Item[]) merged.set(line.productId, (merged.get(line.productId) ?? 0) + line.quantity);
  return { ...fields, cart: [...merged].map(([productId, quantity]) => ({ productId, quantity })) };
};

/** What a store was asked to write, and what it answered: the real store, observed. */
interface ObservedWrite {
  change: RecordWrite;
  result: WriteResult;
}
function observed(store: SessionStore, writes: ObservedWrite[]): SessionStore {
  return Object.assign(Object.create(store) as SessionStore, {
    async write(id: string, change: RecordWrite) {
      const result = await store.write(id, change);
      writes.push({ change, result });
      return result;
    },
  });
}

/** Every party of one race waits here until all have read the session, so each read the same record. */
const barriers = new Map<string, { arrived: number; release(): void; released: Promise<void> }>();
function barrier(name: string, parties: number): Promise<void> {
  let entry = barriers.get(name);
  if (entry === undefined) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    entry = { arrived: 0, release, released };
    barriers.set(name, entry);
  }
  if (++entry.arrived === parties) {
    barriers.delete(name);
    entry.release();
  }
  return entry.released;
}

function v1Server(store: SessionStore) {
  const sessions = createSessionManager({ schema: v1Schema, store, onError: () => undefined });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const router = t.router({
    addItem: t.procedure.input(item).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put('cartItems', [...session.data.get('cartItems'), input]);
      await ctx.session.persist();
      return session.id;
    }),
    note: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put('note', input);
      await ctx.session.persist();
    }),
  });
  return { sessions, router };
}

/** `race`: the barrier every party waits at before writing; `read`: one it passes first, once it has read the session. */
const raceInput = z.object({ race: z.string(), parties: z.number(), read: z.string().optional() });
const hasRead = (read: string | undefined) => (read === undefined ? undefined : barrier(read, 2));

function currentServer(store: SessionStore, schemaVersion: number, migrations: SessionMigrations) {
  const errors: SessionError[] = [];
  const writes: ObservedWrite[] = [];
  const sessions = createSessionManager({ schema, store: observed(store, writes), schemaVersion, migrations, onError: (error) => errors.push(error) });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const router = t.router({
    ping: t.procedure.query(() => 'pong'),
    cart: t.procedure.query(async ({ ctx }) => (await ctx.session.start()).data.get('cart')),
    peek: t.procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      return session === null ? null : { ...session.data.all(), schemaVersion: session.meta.schemaVersion };
    }),
    /** Replaces the basket with one line more (a put: the last writer of `cart` wins). */
    putItem: t.procedure.input(raceInput.extend({ item })).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      const cart = session.data.get('cart');
      await barrier(input.race, input.parties);
      session.data.put('cart', [...cart, input.item]);
      await ctx.session.persist();
    }),
    /** Adds a line atomically (`data.update`). */
    addItem: t.procedure.input(raceInput.extend({ item })).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      await hasRead(input.read);
      await barrier(input.race, input.parties);
      await session.data.update('cart', (cart) => [...cart, input.item]);
    }),
    /** A write that leaves the basket alone. */
    visit: t.procedure.input(raceInput).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      await hasRead(input.read);
      await barrier(input.race, input.parties);
      session.data.put('visits', session.data.get('visits') + 1);
      await ctx.session.persist();
    }),
    /** Passes a barrier, for the test to order its requests with those of the procedures above. */
    arrive: t.procedure.input(raceInput).mutation(({ input }) => barrier(input.race, input.parties)),
    login: t.procedure.mutation(async ({ ctx }) => {
      await ctx.session.regenerate();
      await ctx.session.persist();
    }),
  });
  return { sessions, router, errors, writes };
}

const solo = (race = 'solo') => ({ race, parties: 1 });
const beans = (quantity: number) => ({ productId: 'beans', quantity });
const rice = (quantity: number) => ({ productId: 'rice', quantity });

const { stores, redis } = useStores();

describe.each(Object.keys(stores))('%s store', (storeName) => {
  let store: SessionStore;
  const served: Served[] = [];
  let v1: ReturnType<typeof v1Server>;
  let v2: ReturnType<typeof currentServer>;
  let v3: ReturnType<typeof currentServer>;
  let urls: { v1: string; v2: string; v3: string; failing: string };
  let failing: ReturnType<typeof currentServer>;
  const serve = async (server: { router: never; sessions: { createContext: never } } | { router: unknown; sessions: unknown }) => {
    const { router, sessions } = server as { router: never; sessions: { createContext: never } };
    const one = await serveStandalone(router, sessions.createContext);
    served.push(one);
    return one.url;
  };

  beforeAll(async () => {
    store = stores[storeName]!();
    v1 = v1Server(store);
    v2 = currentServer(store, 2, { 2: renameCart });
    v3 = currentServer(store, 3, { 2: renameCart, 3: mergeLines });
    failing = currentServer(store, 2, {
      2: (fields) => {
        const lines = fields.cartItems as Item[];
        if (lines.some((line) => line.productId === 'boom')) throw new Error('cannot migrate a boom line');
        if (lines.some((line) => line.productId === 'number')) return 42 as never;
        if (lines.some((line) => line.productId === 'function')) return { cart: () => lines };
        return renameCart(fields);
      },
    });
    urls = { v1: await serve(v1), v2: await serve(v2), v3: await serve(v3), failing: await serve(failing) };
  });
  afterAll(async () => {
    await Promise.all(served.map((one) => one.close()));
    await store.close();
  });

  /** One browser, talking to servers of each version; `id()` is its session's ID (cookies are unsigned here). */
  function browser() {
    const jar = new CookieJar();
    return {
      v1: trpcClient<ReturnType<typeof v1Server>['router']>(urls.v1, jar, 'single'),
      v2: trpcClient<ReturnType<typeof currentServer>['router']>(urls.v2, jar, 'single'),
      v3: trpcClient<ReturnType<typeof currentServer>['router']>(urls.v3, jar, 'single'),
      failing: trpcClient<ReturnType<typeof currentServer>['router']>(urls.failing, jar, 'single'),
      id: () => jar.cookies.get('sid')!,
    };
  }

  /** The record as the store holds it, read with the store's own load: no manager, so no migration. */
  async function stored(id: string) {
    const loaded = await store.load(id, Date.now());
    if (loaded.status !== 'found') return loaded.status;
    const fields = Object.fromEntries([...loaded.record.fields].map(([name, bytes]) => [name, decodeValue(bytes)]));
    return { schemaVersion: loaded.record.schemaVersion, fields };
  }

  test('a v1 basket is read under v2 as `cart`, and the record stays v1 until a write stores it as v2, field by field', async () => {
    const b = browser();
    await b.v1.addItem.mutate(beans(2));
    await b.v1.note.mutate('leave at the door');
    expect(await stored(b.id())).toEqual({ schemaVersion: 1, fields: { cartItems: [beans(2)], note: 'leave at the door' } });

    const writesBefore = v2.writes.length;
    expect(await b.v2.cart.query()).toEqual([beans(2)]);
    expect(await b.v2.peek.query()).toEqual({ cart: [beans(2)], visits: 0, note: 'leave at the door', schemaVersion: 1 });
    expect(v2.writes.length, 'reads write nothing').toBe(writesBefore);
    expect(await stored(b.id()), 'read, not written: still v1').toEqual({ schemaVersion: 1, fields: { cartItems: [beans(2)], note: 'leave at the door' } });

    await b.v2.visit.mutate(solo());
    expect(await stored(b.id())).toEqual({ schemaVersion: 2, fields: { cart: [beans(2)], visits: 1, note: 'leave at the door' } });
    // The write carried the migration's changes (cart set, cartItems removed) and the request's own (visits), not `note`.
    const write = v2.writes.at(-1)!;
    expect(write.result).toBe('ok');
    expect([...write.change.set.keys()].sort()).toEqual(['cart', 'visits']);
    expect(write.change.remove).toEqual(['cartItems']);
    expect(write.change.expect?.schemaVersion).toBe(1);
    expect(v2.errors, 'no field dropped').toEqual([]);

    // Now a v2 record: no migration, no condition.
    await b.v2.visit.mutate(solo());
    expect(v2.writes.at(-1)!.change.expect).toBeUndefined();
    expect(await b.v2.peek.query()).toEqual({ cart: [beans(2)], visits: 2, note: 'leave at the door', schemaVersion: 2 });
  });

  test('a record two versions behind runs both migrations, in order', async () => {
    const b = browser();
    await b.v1.addItem.mutate(beans(2));
    await b.v1.addItem.mutate(rice(1));
    await b.v1.addItem.mutate(beans(3));
    expect(await b.v3.cart.query()).toEqual([beans(5), rice(1)]);
    expect((await stored(b.id())) as { schemaVersion: number }).toMatchObject({ schemaVersion: 1 });
    await b.v3.visit.mutate(solo());
    expect(await stored(b.id())).toEqual({ schemaVersion: 3, fields: { cart: [beans(5), rice(1)], visits: 1 } });
    expect(v3.errors).toEqual([]);
  });

  test('a v2 record is read by v3 through migration 3 only', async () => {
    const b = browser();
    await b.v1.addItem.mutate(beans(1));
    await b.v1.addItem.mutate(beans(1));
    await b.v2.visit.mutate(solo());
    expect(await stored(b.id())).toEqual({ schemaVersion: 2, fields: { cart: [beans(1), beans(1)], visits: 1 } });
    await b.v3.visit.mutate(solo());
    expect(await stored(b.id())).toEqual({ schemaVersion: 3, fields: { cart: [beans(2)], visits: 2 } });
  });

  test('regenerate() of a session read migrated moves it to its new ID migrated', async () => {
    const b = browser();
    await b.v1.addItem.mutate(beans(2));
    const oldId = b.id();
    await b.v2.login.mutate();
    expect(b.id()).not.toBe(oldId);
    expect(await stored(b.id())).toEqual({ schemaVersion: 2, fields: { cart: [beans(2)] } });
    expect(await b.v2.cart.query()).toEqual([beans(2)]);
    expect(v2.errors).toEqual([]);
  });

  test('a record written by a newer version is read as it is, without migrations, and never written by the older one', async () => {
    const b = browser();
    await b.v1.addItem.mutate(beans(2));
    await b.v3.visit.mutate(solo());
    const errorsBefore = v2.errors.length;
    expect(await b.v2.peek.query()).toEqual({ cart: [beans(2)], visits: 1, schemaVersion: 3 });
    expect(v2.errors.length).toBe(errorsBefore);
    // Its write would stamp version 2 over version 3's fields: refused, nothing written (test/rolling-deploy.e2e.test.ts).
    const refused = await b.v2.visit.mutate(solo()).then(
      () => null,
      (caught: unknown) => caught as { message: string; data: { code: string } },
    );
    expect(refused?.data.code).toBe('CONFLICT');
    expect(refused?.message).toMatch(/was written by a newer schema version than this server's \(2\)/);
    expect(await stored(b.id())).toEqual({ schemaVersion: 3, fields: { cart: [beans(2)], visits: 1 } });
    // Nor moved to a new ID by it: the record taken out is put back as it was.
    const id = b.id();
    const moved = await b.v2.login.mutate().then(
      () => null,
      (caught: unknown) => caught as { message: string; data: { code: string } },
    );
    expect(moved?.data.code).toBe('CONFLICT');
    expect(moved?.message).toMatch(/was written by a newer schema version \(3\) than this server's \(2\)/);
    expect(b.id()).toBe(id);
    expect(await stored(id)).toEqual({ schemaVersion: 3, fields: { cart: [beans(2)], visits: 1 } });
    v2.errors.splice(errorsBefore);
  });

  test('a migration that throws fails the call with SessionMigrationError through tRPC and onError, leaving the record as it was', async () => {
    const b = browser();
    await b.v1.addItem.mutate({ productId: 'boom', quantity: 1 });
    const before = await stored(b.id());
    const sid = b.id();
    const errorsBefore = failing.errors.length;
    for (const call of [() => b.failing.cart.query(), () => b.failing.peek.query(), () => b.failing.visit.mutate(solo())]) {
      const error = await call().then(
        () => null,
        (caught: unknown) => caught as { message: string; data: { code: string } },
      );
      expect(error?.data.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error?.message).toMatch(/the migration to schema version 2 of a record written by version 1 failed: it threw; the record was left as it was/);
    }
    const reported = failing.errors.slice(errorsBefore);
    expect(reported).toHaveLength(3);
    expect(reported.every((error) => error instanceof SessionMigrationError && error.version === 2 && error.fromVersion === 1)).toBe(true);
    // What the migration threw quotes the stored data ('boom'): its class is kept, its message withheld.
    expect((reported[0]!.cause as Error).name).toBe('Error');
    expect((reported[0]!.cause as Error).message).toBe('(message withheld: it may quote session data)');
    expect(await stored(b.id())).toEqual(before);
    expect(b.id(), 'no new session replaced it').toBe(sid);
    // The server goes on serving, and a fixed migration (v2) reads the same record.
    expect(await b.failing.ping.query()).toBe('pong');
    expect(await b.v2.cart.query()).toEqual([{ productId: 'boom', quantity: 1 }]);
  });

  test.each([
    ['number', 'it did not return an object of fields'],
    ['function', 'it returned a value a session cannot hold for field "cart" (a function)'],
  ])('a migration whose result a session cannot hold (%s) fails the call the same way', async (productId, reason) => {
    const b = browser();
    await b.v1.addItem.mutate({ productId, quantity: 1 });
    const before = await stored(b.id());
    const error = await b.failing.visit.mutate(solo()).then(
      () => null,
      (caught: unknown) => caught as { message: string; data: { code: string } },
    );
    expect(error?.data.code).toBe('INTERNAL_SERVER_ERROR');
    expect(error?.message).toContain(`failed: ${reason}; the record was left as it was`);
    expect(failing.errors.at(-1)).toBeInstanceOf(SessionMigrationError);
    expect(await stored(b.id())).toEqual(before);
  });

  const tries = process.env.TRPC_SESSION_STRESS === '1' ? 1000 : 150;

  test(`concurrent requests that read the same v1 record migrate it once and lose no update (${tries} tries)`, async () => {
    const outcomes = { kept: 0, lost: 0, migratedTwice: 0, retriedAfterStale: 0 };
    for (let attempt = 0; attempt < tries; attempt++) {
      const b = browser();
      await b.v1.addItem.mutate(beans(1));
      const race = `${storeName}-put-${attempt}`;
      const writesBefore = v2.writes.length;
      // Both read the v1 record before either writes; one replaces the basket, the other only counts a visit.
      await Promise.all([b.v2.putItem.mutate({ race, parties: 2, item: rice(1) }), b.v2.visit.mutate({ race, parties: 2 })]);
      const writes = v2.writes.slice(writesBefore);
      if (writes.filter((write) => write.change.expect !== undefined && write.result === 'ok').length !== 1) outcomes.migratedTwice++;
      if (writes.some((write) => write.result === 'stale')) outcomes.retriedAfterStale++;
      const record = await stored(b.id());
      const ok =
        JSON.stringify(record) === JSON.stringify({ schemaVersion: 2, fields: { cart: [beans(1), rice(1)], visits: 1 } }) ||
        JSON.stringify(record) === JSON.stringify({ schemaVersion: 2, fields: { visits: 1, cart: [beans(1), rice(1)] } });
      if (ok) outcomes.kept++;
      else outcomes.lost++;
    }
    console.log(`[migrations ${storeName}] put + visit race`, outcomes);
    expect(outcomes).toMatchObject({ kept: tries, lost: 0, migratedTwice: 0 });
    // Every try had two writes on one v1 record: the second always found it migrated.
    expect(outcomes.retriedAfterStale).toBe(tries);
    expect(v2.errors).toEqual([]);
  }, 120_000);

  test(`a v1 write that lands between a v2 request's read and its write is migrated too, not overwritten (${tries} tries)`, async () => {
    // A rolling deploy: a version 1 server still writes the old field while a version 2 request holds the
    // record it migrated. The version alone would still say 1; the fields say it changed.
    const outcomes = { kept: 0, lost: 0 };
    for (let attempt = 0; attempt < tries; attempt++) {
      const b = browser();
      // The third kind: the record read has no basket, so migration 2 has nothing to change in it, until version 1 adds one.
      const kind = (['visit', 'addItem', 'visit to an empty basket'] as const)[attempt % 3]!;
      if (kind === 'visit to an empty basket') await b.v1.note.mutate('no basket yet');
      else await b.v1.addItem.mutate(beans(1));
      const race = `${storeName}-v1-between-${attempt}`;
      const read = `${race}:read`;
      const writing = kind === 'addItem' ? b.v2.addItem.mutate({ race, parties: 2, read, item: rice(1) }) : b.v2.visit.mutate({ race, parties: 2, read });
      await b.v2.arrive.mutate({ race: read, parties: 2 }); // the v2 request has read the v1 record
      await b.v1.addItem.mutate(beans(2)); // written by version 1, still at version 1
      await b.v2.arrive.mutate({ race, parties: 2 }); // now the v2 request writes
      await writing;
      const record = (await stored(b.id())) as { schemaVersion: number; fields: { cart?: Item[]; visits?: number; cartItems?: unknown } };
      const expected = { visit: [beans(1), beans(2)], addItem: [beans(1), beans(2), rice(1)], 'visit to an empty basket': [beans(2)] }[kind];
      if (record.schemaVersion === 2 && JSON.stringify(record.fields.cart) === JSON.stringify(expected) && record.fields.cartItems === undefined) outcomes.kept++;
      else outcomes.lost++;
    }
    console.log(`[migrations ${storeName}] v1 write between a v2 read and write`, outcomes);
    expect(outcomes).toEqual({ kept: tries, lost: 0 });
  }, 120_000);

  test(`concurrent data.update()s and a write on the same v1 record keep every line (${tries} tries)`, async () => {
    const outcomes = { kept: 0, lost: 0, migratedTwice: 0 };
    for (let attempt = 0; attempt < tries; attempt++) {
      const b = browser();
      await b.v1.addItem.mutate(beans(1));
      const race = `${storeName}-update-${attempt}`;
      const writesBefore = v2.writes.length;
      await Promise.all([
        b.v2.addItem.mutate({ race, parties: 3, item: rice(1) }),
        b.v2.addItem.mutate({ race, parties: 3, item: rice(2) }),
        b.v2.visit.mutate({ race, parties: 3 }),
      ]);
      const writes = v2.writes.slice(writesBefore);
      if (writes.filter((write) => write.change.expect !== undefined && write.result === 'ok').length !== 1) outcomes.migratedTwice++;
      const record = (await stored(b.id())) as { schemaVersion: number; fields: { cart: Item[]; visits: number } };
      const lines = [...record.fields.cart].sort((a, c) => a.productId.localeCompare(c.productId) || a.quantity - c.quantity);
      const ok =
        record.schemaVersion === 2 && record.fields.visits === 1 && JSON.stringify(lines) === JSON.stringify([beans(1), rice(1), rice(2)]) && !('cartItems' in record.fields);
      if (ok) outcomes.kept++;
      else outcomes.lost++;
    }
    console.log(`[migrations ${storeName}] update + update + visit race`, outcomes);
    expect(outcomes).toEqual({ kept: tries, lost: 0, migratedTwice: 0 });
    expect(v2.errors).toEqual([]);
  }, 120_000);
});

describe.each(Object.keys(stores))('%s store: what a migration is given', (storeName) => {
  const richV1 = z.object({
    cartItems: z.array(item).optional(),
    seenAt: z.date().optional(),
    tags: z.set(z.string()).optional(),
    prices: z.map(z.string(), z.number()).optional(),
    legacy: z.string().optional(),
  });
  const richV4 = z.object({ cart: z.array(item).default([]), seenAt: z.date().optional(), labels: z.array(z.string()).default([]), prices: z.map(z.string(), z.number()).optional() });

  test('decoded values as stored (Date, Set, Map); versions skipped; undefined removes; a field the schema lacks is still dropped', async () => {
    const store = stores[storeName]!();
    try {
      const v1 = createSessionManager({ schema: richV1, store });
      const writing = requestFor();
      const session = await handleFor(v1, writing.transport).start();
      session.data.put('seenAt', new Date('2026-01-02T03:04:05.678Z'));
      session.data.put('tags', new Set(['a', 'b']));
      session.data.put('prices', new Map([['beans', 2.5]]));
      session.data.put('legacy', 'kept by no one');
      await writing.end();

      const seen: string[] = [];
      const errors: SessionError[] = [];
      const v4 = createSessionManager({
        schema: richV4,
        store,
        schemaVersion: 4,
        onError: (error) => errors.push(error),
        migrations: {
          2: ({ cartItems, ...fields }) => {
            seen.push(`2: ${[fields.seenAt instanceof Date, fields.tags instanceof Set, fields.prices instanceof Map].join()}`);
            return { ...fields, cart: cartItems }; // cartItems was never set: cart is undefined
          },
          // 3 changed the schema only.
          4: ({ tags, ...fields }) => {
            seen.push(`4: ${Object.keys(fields).sort().join()}`);
            return { ...fields, labels: [...(tags as Set<string>)] };
          },
        },
      });
      const reading = requestFor(session.id);
      const migrated = (await handleFor(v4, reading.transport).load())!;
      expect(seen).toEqual(['2: true,true,true', '4: cart,legacy,prices,seenAt']);
      expect(migrated.data.has('cart'), 'undefined: not stored').toBe(false);
      expect(migrated.data.all()).toEqual({ cart: [], seenAt: new Date('2026-01-02T03:04:05.678Z'), labels: ['a', 'b'], prices: new Map([['beans', 2.5]]) });
      expect(errors.map((error) => [error.constructor, (error as SessionFieldDroppedError).field])).toEqual([[SessionFieldDroppedError, 'legacy']]);
      migrated.data.put('cart', [beans(1)]);
      await reading.end();
      const loaded = await store.load(session.id, Date.now());
      if (loaded.status !== 'found') throw new Error(loaded.status);
      expect(loaded.record.schemaVersion).toBe(4);
      expect([...loaded.record.fields.keys()].sort()).toEqual(['cart', 'labels', 'prices', 'seenAt']);
    } finally {
      await store.close();
    }
  });
});

describe("the README's example (examples/schema-migrations.ts), run as it is against Redis", () => {
  const root = resolve(import.meta.dirname, '..');
  let server: ChildProcess;
  let v1Served: Served;
  let url: string;
  beforeAll(async () => {
    const port = await freePort();
    server = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['examples/schema-migrations.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), REDIS_URL: redis().url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    server.stdout!.on('data', (chunk) => (logs += chunk));
    server.stderr!.on('data', (chunk) => (logs += chunk));
    url = `http://127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt++) {
      if (server.exitCode !== null) throw new Error(`the example exited with ${server.exitCode}:\n${logs}`);
      try {
        await fetch(url);
        break;
      } catch {
        if (attempt > 600) throw new Error(`the example did not listen on ${url}:\n${logs}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // The version before the deploy, on the same Redis and prefix.
    const v1 = v1Server(redisStore({ redis: () => redis().client() }));
    v1Served = await serveStandalone(v1.router, v1.sessions.createContext);
  }, 60_000);
  afterAll(async () => {
    server?.kill();
    await v1Served?.close();
  });

  test('a basket put in by version 1 is read by the example as `cart`, and stored as version 2 by its next write', async () => {
    const jar = new CookieJar();
    const before = trpcClient<ReturnType<typeof v1Server>['router']>(v1Served.url, jar, 'single');
    const after = trpcClient<MigratedAppRouter>(url, jar, 'single');
    await before.addItem.mutate(beans(2));
    const key = `session:${jar.cookies.get('sid')}`;
    const inspect = redis().client();
    try {
      expect(await inspect.hget(key, 'm:v')).toBe('1');
      expect(await after.cart.query()).toEqual([beans(2)]);
      expect(await inspect.hget(key, 'm:v'), 'read, not written').toBe('1');
      await after.addToCart.mutate(rice(1));
      // The example writes after the response: wait for the write to land.
      for (let attempt = 0; attempt < 200 && (await inspect.hget(key, 'm:v')) !== '2'; attempt++) await new Promise((resolve) => setTimeout(resolve, 25));
      const hash = await inspect.hgetallBuffer(key);
      expect(Object.keys(hash).filter((name) => name.startsWith('d:')).sort()).toEqual(['d:cart']);
      expect(decodeValue(hash['d:cart']!)).toEqual([beans(2), rice(1)]);
      expect(hash['m:v']!.toString()).toBe('2');
      expect(await after.cart.query()).toEqual([beans(2), rice(1)]);
    } finally {
      inspect.disconnect();
    }
  });
});
