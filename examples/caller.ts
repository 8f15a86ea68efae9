import { createServer } from 'node:http';
import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createCallerContext, createSessionManager, redisStore } from 'trpc-session';

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const procedure = t.procedure.concat(sessions.procedure); // needed for server-side calls
const router = t.router({
  visit: procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});
const createCaller = t.createCallerFactory(router);

// A page rendered on the server, which calls its procedures directly rather than over HTTP.
createServer((req, res) => {
  const prefix = `${sessions.cookieName}=`;
  const caller = createCaller(
    createCallerContext(sessions, {
      // The session cookie's value, as the request carried it.
      cookie: req.headers.cookie?.split('; ').find((pair) => pair.startsWith(prefix))?.slice(prefix.length),
      setCookie: (header) => res.appendHeader('set-cookie', header), // optional: without it, no new session
    }),
  );
  caller.visit().then(
    (visits) => res.setHeader('content-type', 'text/html').end(`<p>Visit number ${visits}</p>`),
    () => res.writeHead(500).end(),
  );
}).listen(Number(process.env.PORT ?? 3000));
