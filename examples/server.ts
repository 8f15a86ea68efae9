import { initTRPC } from '@trpc/server';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });

const sessions = createSessionManager({
  // Every field needs .optional(), .default() or .catch(): a new session starts empty.
  schema: z.object({ cart: z.array(item).default([]), userId: z.string().optional() }),
  // A function: the client is created on the first session access, and closed by sessions.close().
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true }) }),
  cookie: { name: 'sid', lifespan: 86400 }, // seconds a session lives unused
});

// `ctx.session`, plus whatever your own context holds.
const createContext = (opts: CreateHTTPContextOptions) => ({ ...sessions.createContext(opts), ip: opts.req.socket.remoteAddress });
const t = initTRPC.context<typeof createContext>().create();

const router = t.router({
  cart: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load(); // null for a client without a session: no cookie is set
    return session?.data.get('cart') ?? [];
  }),
  addToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start(); // resume or create; sets the cookie
    session.data.put('cart', [...session.data.get('cart'), input]); // validated against the schema
    return session.data.get('cart'); // typed: { productId: string; quantity: number }[]
  }), // written to Redis once the response has been sent
  login: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate(); // new ID, same data: defeats session fixation
    session.data.put('userId', input);
  }),
  logout: t.procedure.mutation(({ ctx }) => ctx.session.destroy()),
});

export type AppRouter = typeof router; // for the client

// Served at /trpc, where the client calls it: http://localhost:3000/trpc/cart
createHTTPServer({ router, createContext, basePath: '/trpc/' }).listen(Number(process.env.PORT ?? 3000));
