import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const sessions = createSessionManager({
  schema: z.object({ step: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
  persist: 'before-response', // a call answers once its changes are stored; a failed write fails the call
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const procedure = t.procedure.concat(sessions.procedure); // put it first, before middlewares that use the session

const router = t.router({
  nextStep: procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('step', session.data.get('step') + 1);
    return session.data.get('step'); // in Redis by the time the client reads this
  }),
});

createHTTPServer({ router, createContext: sessions.createContext }).listen(Number(process.env.PORT ?? 3000));
