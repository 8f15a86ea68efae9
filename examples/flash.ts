import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });

const sessions = createSessionManager({
  schema: z.object({ cart: z.array(item).default([]), name: z.string().optional() }),
  // Values set in one request and taken once in a later one: a schema of their own, kept apart from the data.
  flash: z.object({ notice: z.string(), formError: z.object({ field: z.string(), message: z.string() }) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();

const router = t.router({
  addToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.put('cart', [...session.data.get('cart'), input]);
    session.flash.set('notice', `Added ${input.quantity} × ${input.productId} to your basket`); // written with the cart
  }),
  login: t.procedure.input(z.object({ name: z.string() })).mutation(async ({ ctx, input }) => {
    if (input.name.trim() === '') {
      const session = await ctx.session.start();
      session.flash.set('formError', { field: 'name', message: 'Tell us your name' });
      return false;
    }
    const session = await ctx.session.regenerate(); // new ID: the flash values move with the session
    session.data.put('name', input.name);
    session.flash.set('notice', `Welcome back, ${input.name}`);
    return true;
  }),
  // The page after the redirect shows each message once, however many tabs ask at the same moment.
  messages: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    const notice = await session?.flash.take('notice'); // string | undefined, typed by the flash schema
    const formError = await session?.flash.take('formError'); // { field, message } | undefined
    return { notice: notice ?? null, formError: formError ?? null };
  }),
});

export type AppRouter = typeof router; // for the client

createHTTPServer({ router, createContext: sessions.createContext }).listen(Number(process.env.PORT ?? 3000));
