import { Redis } from 'ioredis';
import { createSessionManager, redisStore, type SessionManager } from 'trpc-session';
import { z } from 'zod';

const schema = z.object({
  cart: z.array(z.object({ productId: z.string(), quantity: z.number().int().positive() })).default([]),
  userId: z.string().optional(),
});
const cookie = { name: 'basket_sid', lifespan: 86400 };
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function create(): SessionManager<typeof schema> {
  return createSessionManager({
    schema,
    store: redisStore({ redis: () => new Redis(redisUrl) }),
    cookie,
    // Next.js sets X-Forwarded-Proto on every request (a proxy's, or from its own socket) and builds route
    // handlers' URLs from it: trusted here too, Pages Router routes make the cookie as Secure as the others.
    trustProxy: true,
  });
}

// Next.js bundles each route (route handler, page, pages API route) separately, each with its own copy of
// this module: keep one manager, and one Redis connection, per process. `next dev` runs this module again
// after an edit: a changed option replaces the manager, and the old one's connection is closed.
const options = JSON.stringify([cookie, redisUrl, z.toJSONSchema(schema)]);
const shared = globalThis as typeof globalThis & { sessions?: { options: string; manager: SessionManager<typeof schema> } };
if (shared.sessions?.options !== options) {
  void shared.sessions?.manager.close();
  shared.sessions = { options, manager: create() };
}
export const sessions = shared.sessions.manager;
