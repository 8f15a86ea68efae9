import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });

// Version 1 of this app stored the basket as `cartItems`; this deploy, version 2, calls it `cart`.
const sessions = createSessionManager({
  schema: z.object({ cart: z.array(item).default([]), userId: z.string().optional() }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
  schemaVersion: 2,
  migrations: {
    // Turns the fields of a record written by version 1 into version 2's, when such a record is read.
    2: ({ cartItems, ...fields }) => ({ ...fields, cart: cartItems }),
  },
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();

const router = t.router({
  cart: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session?.data.get('cart') ?? []; // a basket put in by version 1 too
  }),
  addToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.put('cart', [...session.data.get('cart'), input]);
  }), // this write also stores the record as version 2: `cart` set, `cartItems` removed
});

export type AppRouter = typeof router;

createHTTPServer({ router, createContext: sessions.createContext }).listen(Number(process.env.PORT ?? 3000));
