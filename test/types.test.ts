import { initTRPC } from '@trpc/server';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { expectTypeOf, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, type Session, type SessionHandle } from '../src/index.js';

// These assertions are checked by `tsc --noEmit`, the first half of `npm test`; the test below only
// records that they compiled.
const item = z.object({ productId: z.string(), quantity: z.number().int() });
const schema = z.object({
  cart: z.array(item).default([]),
  userId: z.string().optional(),
  seenAt: z.date().optional(),
  visits: z.number().default(0),
  nickname: z.string().nullable().optional(),
  prefs: z.object({ theme: z.enum(['light', 'dark']).default('light') }).default({ theme: 'light' }),
  // A bare .catch() accepts absence too: it stands in for whatever is missing or invalid.
  locale: z.enum(['en', 'fr']).catch('en'),
});
const sessions = createSessionManager({ schema, store: memoryStore() });

const createContext = (opts: CreateHTTPContextOptions) => ({ ...sessions.createContext(opts), db: { name: 'db' } });
const t = initTRPC.context<typeof createContext>().create();

export const router = t.router({
  inferred: t.procedure.query(async ({ ctx }) => {
    expectTypeOf(ctx.session).toEqualTypeOf<SessionHandle<typeof schema>>();
    expectTypeOf(ctx.db).toEqualTypeOf<{ name: string }>();
    const session = await ctx.session.start();
    expectTypeOf(session).toEqualTypeOf<Session<typeof schema>>();
    expectTypeOf(await ctx.session.load()).toEqualTypeOf<Session<typeof schema> | null>();

    expectTypeOf(session.data.get('cart')).toEqualTypeOf<{ productId: string; quantity: number }[]>();
    expectTypeOf(session.data.get('userId')).toEqualTypeOf<string | undefined>();
    expectTypeOf(session.data.get('seenAt')).toEqualTypeOf<Date | undefined>();
    expectTypeOf(session.data.get('visits')).toEqualTypeOf<number>();
    expectTypeOf(session.data.all()).toEqualTypeOf<{
      cart: { productId: string; quantity: number }[];
      userId?: string | undefined;
      seenAt?: Date | undefined;
      visits: number;
      nickname?: string | null | undefined;
      prefs: { theme: 'light' | 'dark' };
      locale: 'en' | 'fr';
    }>();
    expectTypeOf(session.data.update('visits', (visits) => visits + 1)).toEqualTypeOf<Promise<number>>();

    session.data.put('cart', [{ productId: 'p1', quantity: 1 }]);
    session.data.put('userId', 'u1');
    // @ts-expect-error unknown key
    session.data.get('nope');
    // @ts-expect-error unknown key
    session.data.put('nope', 1);
    // @ts-expect-error wrong value type
    session.data.put('visits', 'many');
    // @ts-expect-error wrong element shape
    session.data.put('cart', [{ productId: 1, quantity: 1 }]);
    // @ts-expect-error update must return the field's type
    void session.data.update('visits', () => 'x');
    // @ts-expect-error unknown key
    session.data.has('nope');
    // @ts-expect-error unknown key
    session.data.delete('nope');
    // @ts-expect-error unknown key
    void session.data.update('nope', () => 1);
    expectTypeOf(session.data.get('nickname')).toEqualTypeOf<string | null | undefined>();
    session.data.put('nickname', null);
    expectTypeOf(session.data.get('prefs')).toEqualTypeOf<{ theme: 'light' | 'dark' }>();
    // put takes the schema's input: inner defaults may be left out
    session.data.put('prefs', {});
    // @ts-expect-error not one of the enum's values
    session.data.put('prefs', { theme: 'blue' });
    expectTypeOf(session.data.get('locale')).toEqualTypeOf<'en' | 'fr'>();
    session.data.put('locale', 'fr');
    // @ts-expect-error not one of the enum's values
    session.data.put('locale', 'de');
    return session.data.get('cart');
  }),
});

// A schema with a field that a new, empty session would lack is a type error (and a start-up error, so
// this is only compiled, never called).
export const invalidSchema = () =>
  createSessionManager({
    // @ts-expect-error `cart` has neither .optional() nor .default()
    schema: z.object({ cart: z.array(item) }),
    store: memoryStore(),
  });
export const invalidAmongValidFields = () =>
  createSessionManager({
    // @ts-expect-error `visits` has neither .optional(), .default() nor .catch(); the others do
    schema: z.object({ locale: z.string().catch('en'), visits: z.number(), userId: z.string().optional() }),
    store: memoryStore(),
  });

test('session types are inferred from the schema (checked by tsc)', () => {
  expectTypeOf(sessions.createContext).returns.toEqualTypeOf<{ session: SessionHandle<typeof schema> }>();
});
