import { RedisStore } from 'connect-redis';
import type { Request } from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import type { Variant, VariantOptions } from './variant.js';

declare module 'express-session' {
  interface SessionData {
    counter: number;
    visits: number;
  }
}

interface Ctx {
  req: Request;
}

/**
 * express-session with connect-redis v9 (node-redis), configured as its documentation recommends:
 * `resave: false`, `saveUninitialized: false`. Its middleware loads the session on every request that carries
 * a cookie, before any procedure runs, and saves (or touches) it before the response ends.
 */
export async function expressSessionVariant(options: VariantOptions): Promise<Variant<Ctx>> {
  const client = createClient({ url: options.redisUrl });
  await client.connect();
  const middleware = session({
    store: new RedisStore({ client, prefix: 'es:' }),
    secret: 'a benchmark secret of at least 32 characters',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 86_400_000, httpOnly: true, sameSite: 'lax' },
  });
  return {
    createContext: ({ req }) => ({ req: req as Request }),
    session: {
      read: async ({ req }: Ctx) => req.session.counter ?? 0,
      increment: async ({ req }: Ctx) => {
        req.session.counter = (req.session.counter ?? 0) + 1;
        return req.session.counter;
      },
      begin: async ({ req }: Ctx) => {
        req.session.visits = 1;
        return 1;
      },
    },
    expressMiddleware: middleware,
    close: async () => {
      await client.quit();
    },
  };
}
