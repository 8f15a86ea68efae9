import { getIronSession, type IronSession } from 'iron-session';
import type { Variant } from './variant.js';

interface Data {
  counter?: number;
  visits?: number;
}

interface Ctx {
  session: () => Promise<IronSession<Data>>;
}

const options = { password: 'a benchmark password of at least 32 characters', cookieName: 'iron', ttl: 86_400 };

/**
 * iron-session v8: the session is sealed in the cookie, no store. The context opens it lazily (and once), as
 * trpc-session does, so a call that never asks for it pays nothing; a change is saved by resealing the cookie,
 * before the response.
 */
export function ironSessionVariant(): Variant<Ctx> {
  return {
    createContext: ({ req, res }) => {
      let opened: Promise<IronSession<Data>> | undefined;
      return { session: () => (opened ??= getIronSession<Data>(req, res, options)) };
    },
    session: {
      read: async (ctx: Ctx) => (await ctx.session()).counter ?? 0,
      increment: async (ctx: Ctx) => {
        const session = await ctx.session();
        session.counter = (session.counter ?? 0) + 1;
        await session.save();
        return session.counter;
      },
      begin: async (ctx: Ctx) => {
        const session = await ctx.session();
        session.visits = 1;
        await session.save();
        return 1;
      },
    },
    close: async () => {},
  };
}
