import { initTRPC } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

const app = express();
app.use('/trpc', createExpressMiddleware({ router, createContext: sessions.createContext }));
app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
