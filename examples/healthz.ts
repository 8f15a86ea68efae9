import { createServer } from 'node:http';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
  healthTimeout: 500, // ms: under the probe's own timeout
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

const trpc = createHTTPHandler({ router, createContext: sessions.createContext, basePath: '/trpc/' });
createServer(async (req, res) => {
  if (req.url !== '/healthz') return trpc(req, res);
  // The readiness probe: 503 while the session store does not answer. The reason names the store: log it only.
  const health = await sessions.health();
  if (!health.ok) console.error(`healthz: session store unavailable: ${health.reason}`);
  res.writeHead(health.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(health.ok ? 'ok' : 'unavailable');
}).listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
