// The app every runtime example serves: one session manager and one router, shared by the servers beside it.
import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

export const sessions = createSessionManager({
  schema: z.object({ cart: z.array(z.string()).default([]), userId: z.string().optional() }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
  cookie: { name: 'sid' },
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();

export const router = t.router({
  basket: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session && { ref: session.ref, cart: session.data.get('cart'), userId: session.data.get('userId') ?? null };
  }),
  add: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.put('cart', [...session.data.get('cart'), input]);
    return session.data.get('cart');
  }),
  login: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate();
    session.data.put('userId', input);
  }),
  logout: t.procedure.mutation(({ ctx }) => ctx.session.destroy()),
});

export type AppRouter = typeof router;
