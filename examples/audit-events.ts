import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore, type SessionEvent } from 'trpc-session';

/** Your audit log; here one JSON line per event on stdout. An async hook is fine: it is not waited for. */
async function audit(event: SessionEvent): Promise<void> {
  // { type, ref, previousRef?, userId, reason?, at }: the session's ref, never its ID, never its data.
  console.log(JSON.stringify(event));
}

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
  onEvent: audit, // what it throws or rejects with goes to onError; the request goes on
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();

const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start(); // 'created' once its record is first written
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
  login: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate(); // 'regenerated': previousRef -> ref
    await session.bindUser(input); // later events carry userId
  }),
  logoutEverywhere: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session?.userId ? sessions.revokeUser(session.userId) : 0; // 'revoked' for each session ended
  }),
  logout: t.procedure.mutation(({ ctx }) => ctx.session.destroy()), // 'destroyed'
});

export type AppRouter = typeof router; // for the client

createHTTPServer({ router, createContext: sessions.createContext }).listen(Number(process.env.PORT ?? 3000));
