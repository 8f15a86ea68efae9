import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { NodeContextOptions, Variant, VariantOptions } from './variant.js';

interface Ctx extends NodeContextOptions {
  id: string | undefined;
}

const COOKIE = 'rt=';
const key = (id: string) => `rt:${id}`;

/** The ID in the `rt` cookie, found without a cookie parser. */
function cookieId(header: string | undefined): string | undefined {
  const start = header?.indexOf(COOKIE) ?? -1;
  if (start < 0) return undefined;
  const end = header!.indexOf(';', start);
  return header!.slice(start + COOKIE.length, end < 0 ? undefined : end);
}

/**
 * Not a session library: a floor to measure the others against. Each call makes the Redis round trips a
 * Redis-backed session needs, one `GET` for a read, `GET` then `SET` for a write, one `SET` for a new session,
 * over ioredis, and nothing else: no cookie parsing or signing, no schema, no expiry refresh, no protection
 * against lost updates or forged IDs. What separates a library from this row is its own cost; what separates
 * this row from the no-session baseline is the cost of the round trips themselves on this machine.
 */
export function roundTripsOnlyVariant(options: VariantOptions): Variant<Ctx> {
  const redis = new Redis(options.redisUrl);
  const counterOf = async (ctx: Ctx) => Number((await redis.get(key(ctx.id ?? ''))) ?? 0);
  return {
    createContext: ({ req, res }) => ({ req, res, id: cookieId(req.headers.cookie) }),
    session: {
      read: counterOf,
      async increment(ctx: Ctx) {
        const next = (await counterOf(ctx)) + 1;
        await redis.set(key(ctx.id ?? ''), next, 'EX', 86_400);
        return next;
      },
      async begin(ctx: Ctx) {
        const id = randomBytes(24).toString('base64url');
        ctx.res.setHeader('set-cookie', `${COOKIE}${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400`);
        await redis.set(key(id), 0, 'EX', 86_400);
        return 1;
      },
    },
    close: async () => {
      await redis.quit();
    },
  };
}
