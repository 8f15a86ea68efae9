import { serve } from '@hono/node-server';
import { initTRPC } from '@trpc/server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore, type SessionContext } from 'trpc-session';
import { fetchSessionHandler } from 'trpc-session/fetch';

const schema = z.object({ visits: z.number().int().default(0) });
const sessions = createSessionManager({
  schema,
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<SessionContext<typeof schema>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

const app = new Hono();
// On Node no `waitUntil` is needed: the process outlives the response.
app.all('/trpc/*', (c) => fetchSessionHandler(sessions, { endpoint: '/trpc', req: c.req.raw, router }));

serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
