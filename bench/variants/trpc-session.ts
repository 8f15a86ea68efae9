import { Redis } from 'ioredis';
import * as z from 'zod';
import { createSessionManager, memoryStore, redisStore, type SessionContext, type SessionStore } from '../../src/index.js';
import type { Variant, VariantOptions } from './variant.js';

const schema = z.object({
  counter: z.number().int().default(0),
  visits: z.number().int().default(0),
});

type Ctx = SessionContext<typeof schema>;

function trpcSessionVariant(store: SessionStore, close: () => Promise<void>): Variant<Ctx> {
  const sessions = createSessionManager({ schema, store, cookie: { name: 'sid' } });
  return {
    createContext: sessions.createContext,
    session: {
      async read(ctx: Ctx) {
        const session = await ctx.session.start();
        return session.data.get('counter');
      },
      async increment(ctx: Ctx) {
        const session = await ctx.session.start();
        const next = session.data.get('counter') + 1;
        session.data.put('counter', next);
        return next;
      },
      async begin(ctx: Ctx) {
        const session = await ctx.session.start();
        session.data.put('visits', 1);
        return 1;
      },
    },
    close,
  };
}

/** trpc-session over its Redis store (ioredis). */
export function trpcSessionRedisVariant(options: VariantOptions): Variant {
  const redis = new Redis(options.redisUrl, { enableAutoPipelining: options.autoPipelining });
  return trpcSessionVariant(redisStore({ redis, prefix: options.autoPipelining ? 'tsp:' : 'ts:' }), async () => {
    await redis.quit();
  });
}

/** trpc-session over its in-process memory store. */
export function trpcSessionMemoryVariant(): Variant {
  // Room for every session a run creates: at the default 10,000, the "new session" runs would evict the
  // clients' own sessions, and later reads would measure new sessions instead.
  const store = memoryStore({ maxSessions: 1_000_000 });
  return trpcSessionVariant(store, () => store.close());
}
