import { expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, type RecordWrite, type SessionStore } from '../../src/index.js';
import { handleFor, requestFor, useStores } from '../helpers/request.js';
import { logFigures, scaled } from './support/figures.js';

/*
 * What one request does to its session while one of its own operations is under way: nothing it changed is
 * taken as written by a write that did not carry it.
 */

const schema = z.object({ note: z.string().optional(), a: z.number().optional(), b: z.number().optional(), n: z.number().default(0) });
const flash = z.object({ notice: z.string() });
const ROUNDS = scaled(300, 3_000);

const { stores } = useStores();

/** The session cookie's value in the last `Set-Cookie` for it, if any. */
const cookieOf = (cookies: string[]) => {
  const last = cookies.filter((cookie) => cookie.startsWith('sid=')).at(-1);
  return last?.slice('sid='.length, last.indexOf(';'));
};

/**
 * The real store, with the creates it is asked for held while `hold` is armed: `reached` resolves once one
 * is held, `release()` lets it go on.
 */
function holdingCreates(store: SessionStore) {
  let held: { reached: () => void; released: Promise<void> } | undefined;
  const hold = () => {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    held = { reached, released: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  };
  const holding: SessionStore = Object.assign(Object.create(store) as SessionStore, {
    async write(id: string, change: RecordWrite) {
      const current = held;
      if (change.create && current !== undefined) {
        held = undefined;
        current.reached();
        await current.released;
      }
      return store.write(id, change);
    },
  });
  return { store: holding, hold };
}

for (const storeName of Object.keys(stores)) {
  test(`${storeName}: a field put while regenerate()'s create is in flight is written, though the create carried its old value`, async () => {
    const { store, hold } = holdingCreates(stores[storeName]!());
    const sessions = createSessionManager({ schema, store });
    const first = requestFor();
    (await handleFor(sessions, first.transport).start()).data.put('note', 'old');
    await first.end();

    const request = requestFor(cookieOf(first.cookies));
    const handle = handleFor(sessions, request.transport);
    const session = await handle.start();
    const { reached, release } = hold();
    const moved = handle.regenerate();
    // The create at the new ID carries 'note' as read, unchanged; the put comes while it is on its way.
    await reached;
    session.data.put('note', 'new');
    release();
    await moved;
    await request.end();

    const check = requestFor(cookieOf(request.cookies));
    expect((await handleFor(sessions, check.transport).load())?.data.get('note')).toBe('new');
    await check.end();
    await store.close();
  });
}

/** A turn or a few: of the microtask queue or of the event loop, at random. */
async function someTurns(): Promise<void> {
  for (let turn = Math.floor(Math.random() * 4); turn > 0; turn--) await (Math.random() < 0.5 ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve)));
}

for (const storeName of Object.keys(stores)) {
  test(`${storeName}: three calls of one request, each putting, updating, persisting, regenerating, binding and taking at random turns, leave the session as done in that order`, async () => {
    const store = stores[storeName]!();
    const sessions = createSessionManager({ schema, flash, store });
    const figures = { rounds: ROUNDS, puts: 0, updates: 0, regenerates: 0, binds: 0, taken: 0, wrong: 0 };
    const wrong: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Two rounds in three on a stored session holding a flash value, the third on a new one.
      let id: string | undefined;
      if (round % 3 !== 0) {
        const first = requestFor();
        (await handleFor(sessions, first.transport).start()).flash.set('notice', 'hi');
        await first.end();
        id = cookieOf(first.cookies);
      }
      const request = requestFor(id);
      const handle = handleFor(sessions, request.transport);
      const session = await handle.start();
      // What the calls did, in the order they did it: a put is done when called, the rest once resolved.
      const last: { a?: number; b?: number } = {};
      let [puts, updates, taken] = [0, 0, 0];
      let boundTo: string | null = null;
      const call = async (name: string) => {
        for (let step = 0; step < 6; step++) {
          await someTurns();
          const pick = Math.random();
          if (pick < 0.35) {
            const field = Math.random() < 0.5 ? 'a' : 'b';
            session.data.put(field, ++puts);
            last[field] = puts;
          } else if (pick < 0.55) {
            await session.data.update('n', (n) => n + 1);
            updates++;
          } else if (pick < 0.65) {
            await handle.persist();
          } else if (pick < 0.72) {
            await handle.regenerate();
            figures.regenerates++;
          } else if (pick < 0.8) {
            // Binds run in the order they are called.
            const bound = session.bindUser(`${name}-${step}`);
            boundTo = `${name}-${step}`;
            await bound;
            figures.binds++;
          } else if ((await session.flash.take('notice')) !== undefined) taken++;
        }
      };
      await Promise.all(['x', 'y', 'z'].map(call));
      await request.end();
      // No cookie set: the session kept its ID.
      const check = requestFor(cookieOf(request.cookies) ?? id);
      const stored = await handleFor<typeof schema, typeof flash>(sessions, check.transport).load();
      await check.end();
      // The flash value, set once, is taken at most once.
      const got = stored && { a: stored.data.get('a'), b: stored.data.get('b'), n: stored.data.get('n'), userId: stored.userId, taken };
      const expected = { a: last.a, b: last.b, n: updates, userId: boundTo, taken: Math.min(taken, 1) };
      if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`round ${round}: ${JSON.stringify(got)}, not ${JSON.stringify(expected)}`);
      figures.puts += puts;
      figures.updates += updates;
      figures.taken += taken;
    }
    figures.wrong = wrong.length;
    logFigures(`operations of one request (${storeName})`, figures);
    expect(wrong.slice(0, 5)).toEqual([]);
    await store.close();
  }, 120_000);
}
