import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import { sessions } from './sessions';

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create({ transformer: superjson });
// Needed by server-side callers (server components, server actions); a no-op over HTTP.
const procedure = t.procedure.concat(sessions.procedure);

export const appRouter = t.router({
  basket: procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return { items: session?.data.get('cart') ?? [], userId: session?.data.get('userId') ?? null, ref: session?.ref ?? null, at: new Date() };
  }),
  add: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    const cart = session.data.get('cart');
    const line = cart.find((item) => item.productId === input);
    if (line) line.quantity += 1;
    else cart.push({ productId: input, quantity: 1 });
    return cart;
  }),
  login: procedure.input(z.string().min(1)).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate();
    session.data.put('userId', input);
  }),
  logout: procedure.mutation(({ ctx }) => ctx.session.destroy()),
});

export type AppRouter = typeof appRouter;
export const createCaller = t.createCallerFactory(appRouter);
