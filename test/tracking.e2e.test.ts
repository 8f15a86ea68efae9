import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { encodeValue } from '../src/codec.js';
import { createSessionManager } from '../src/index.js';
import { item } from './helpers/app.js';
import { ownRouterFixture } from './helpers/fixture.js';
import { browser } from './helpers/http.js';

// What a procedure changes in place, in objects it got from the session, and how those objects relate to
// the schema's defaults and to other sessions.
const schema = z.object({
  cart: z.array(item).default([]),
  /** Stale stored data falls back to the catch value, which zod hands out as the same array every time. */
  tags: z.array(z.string()).default([]).catch([]),
  /** zod copies a default shallowly: `colors` is one array for every parse. */
  prefs: z.object({ colors: z.array(z.string()) }).default({ colors: [] }),
  /** zod hands out `extra` as it was decoded, shared with what the store's bytes decoded to. */
  box: z.object({ n: z.number(), extra: z.any() }).optional(),
  /** Its items as decoded, put in another order by `.overwrite()`: each one shared with another place of the decoded array. */
  pair: z.array(z.unknown()).overwrite((items) => [...items].reverse()).optional(),
});

let fx: Awaited<ReturnType<typeof ownRouterFixture>>;

function buildRouter(sessions: ReturnType<typeof createSessionManager<typeof schema>>) {
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const invalidItem = { productId: 'bad', quantity: -1 } as z.output<typeof item>;
  return t.router({
    all: t.procedure.query(async ({ ctx }) => (await ctx.session.start()).data.all()),
    pushTag: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.get('tags').push(input);
      return true;
    }),
    pushColor: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.get('prefs').colors.push(input);
      return true;
    }),
    /** Puts a valid cart, then breaks it in place before persisting. */
    putThenBreak: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('cart', [{ productId: 'p1', quantity: 1 }]);
      session.data.get('cart').push(invalidItem);
      await ctx.session.persist();
      return true;
    }),
    clearThenPush: t.procedure.input(item).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.clear();
      session.data.get('cart').push(input);
      return true;
    }),
    putBox: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('box', { n: 1, extra: { deep: 1 } });
      session.data.put('prefs', { colors: ['red'] });
      session.data.put('pair', [{ k: 1 }, { k: 1 }]);
      return true;
    }),
    /** Changes, in place, the box or the preferences as read from the store, and persists. */
    changeBox: t.procedure.input(z.enum(['inside extra', 'symbol key', 'both pair items'])).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      const box = session.data.get('box')!;
      if (input === 'inside extra') box.extra.deep = 2;
      if (input === 'both pair items') for (const item of session.data.get('pair') as { k: number }[]) item.k = 2;
      if (input === 'symbol key') Object.assign(session.data.get('prefs'), { [Symbol('s')]: 1 });
      await ctx.session.persist();
      return true;
    }),
    /** Changes the same object before and after a persist(). */
    pushPersistPush: t.procedure.input(z.tuple([item, item])).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      const cart = session.data.get('cart');
      cart.push(input[0]);
      await ctx.session.persist();
      cart.push(input[1]);
      return true;
    }),
  });
}

beforeAll(async () => {
  fx = await ownRouterFixture((store, onError) => {
    const sessions = createSessionManager({ schema, store, onError });
    return { router: buildRouter(sessions), createContext: sessions.createContext };
  });
});
afterAll(() => fx.close());

type TrackingRouter = ReturnType<typeof buildRouter>;
const newBrowser = () => browser<TrackingRouter>(fx.served.url, 'single').client;

/** A browser whose session holds a `tags` value of an older format, which the schema's .catch() replaces. */
async function browserWithStaleTags() {
  const { client: trpc, jar } = browser<TrackingRouter>(fx.served.url, 'single');
  await trpc.all.query();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.client.hset(`session:${jar.cookies.get('sid')}`, 'd:tags', Buffer.from(encodeValue('a,b')));
  return trpc;
}

test("changing a .catch() value in place never shows in another session", async () => {
  await (await browserWithStaleTags()).pushTag.mutate('private-to-a');
  expect((await (await browserWithStaleTags()).all.query()).tags).toEqual([]);
});

test("changing an object inside a .default() value in place never shows in another session", async () => {
  await newBrowser().pushColor.mutate('private-to-a');
  expect((await newBrowser().all.query()).prefs).toEqual({ colors: [] });
});

test('an object changed in place after put() is validated like the put, and never stored invalid', async () => {
  const error = await newBrowser().putThenBreak.mutate().catch((e: unknown) => e);
  expect((error as Error).message).toMatch(/^Session field "cart" is invalid: /);
});

test('an object changed in place after clear() is kept', async () => {
  const client = newBrowser();
  await client.clearThenPush.mutate({ productId: 'p1', quantity: 1 });
  expect((await client.all.query()).cart).toEqual([{ productId: 'p1', quantity: 1 }]);
});

test('changes made in place after persist() to the same object are written too', async () => {
  const client = newBrowser();
  await client.pushPersistPush.mutate([
    { productId: 'p1', quantity: 1 },
    { productId: 'p2', quantity: 2 },
  ]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect((await client.all.query()).cart).toEqual([
    { productId: 'p1', quantity: 1 },
    { productId: 'p2', quantity: 2 },
  ]);
});

test('a stored object changed in place is noticed, inside a part zod hands out as decoded too (also where .overwrite() moved it), and refused as put would refuse it', async () => {
  const client = newBrowser();
  await client.putBox.mutate();
  await client.changeBox.mutate('inside extra');
  expect((await client.all.query()).box).toEqual({ n: 1, extra: { deep: 2 } });
  await client.changeBox.mutate('both pair items');
  expect((await client.all.query()).pair).toEqual([{ k: 2 }, { k: 2 }]);
  const error = await client.changeBox.mutate('symbol key').catch((e: unknown) => e);
  expect((error as Error).message).toMatch(/^Session field "prefs" cannot be stored/);
});
