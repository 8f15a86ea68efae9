import { Redis } from 'ioredis';
import { createSessionManager, redisStore, type SessionManager } from 'trpc-session';
import { z } from 'zod';

const schema = z.object({
  cart: z.array(z.object({ productId: z.string(), quantity: z.number().int().positive() })).default([]),
  userId: z.string().optional(),
});

function create(): SessionManager<typeof schema> {
  return createSessionManager({
    schema,
    store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
    cookie: { name: 'basket_sid', lifespan: 86400 },
  });
}

// Next.js bundles each route (route handler, page, pages API route) separately, each with its own copy of
// this module: keep one manager, and one Redis connection, per process.
const shared = globalThis as typeof globalThis & { sessions?: SessionManager<typeof schema> };
export const sessions = (shared.sessions ??= create());
