import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';
import { createWSContext } from 'trpc-session/ws';

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const procedure = t.procedure.concat(sessions.procedure); // needed for WebSocket and server-side calls

const router = t.router({
  visit: procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start(); // over the WebSocket: only a session its cookie already names
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

// One port: HTTP (httpBatchLink) for the calls that set the cookie, the WebSocket (wsLink) for the rest.
const server = createHTTPServer({ router, createContext: sessions.createContext });
applyWSSHandler({ wss: new WebSocketServer({ server }), router, createContext: createWSContext(sessions) });
server.listen(Number(process.env.PORT ?? 3000));
