import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, memoryStore, redisStore } from 'trpc-session';

const redisUrl = process.env.REDIS_URL;
const sessions = createSessionManager({
  schema: z.object({ theme: z.enum(['light', 'dark']).default('light') }),
  // Redis when REDIS_URL is set; otherwise the memory store, to try it in one process.
  store: redisUrl ? redisStore({ redis: () => new Redis(redisUrl) }) : memoryStore(),
});

const createContext = (opts: CreateHTTPContextOptions) => ({
  ...sessions.createContext(opts),
  userAgent: opts.req.headers['user-agent'],
  ip: opts.req.socket.remoteAddress,
});
const t = initTRPC.context<typeof createContext>().create();

/** Procedures for a signed-in user: `ctx.current` is their session, `ctx.userId` who they are. */
const signedIn = t.procedure.use(async ({ ctx, next }) => {
  const current = await ctx.session.load();
  if (current?.userId == null) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { current, userId: current.userId } });
});

const router = t.router({
  login: t.procedure.input(z.object({ user: z.string(), device: z.string().max(100).optional() })).mutation(async ({ ctx, input }) => {
    // (Check the user's password here.)
    const session = await ctx.session.regenerate(); // new ID: no session fixation
    // Opt-in: what the user will recognise this device by in the list. Never the session ID.
    await session.bindUser(input.user, { device: { label: input.device, userAgent: ctx.userAgent, ip: ctx.ip } });
    return session.ref;
  }),
  // [{ ref, createdAt, lastUsedAt, device: { label?, userAgent?, ip? } | null, current }], most recent first
  devices: signedIn.query(({ ctx }) => sessions.userSessions(ctx.userId, { current: ctx.current })),
  // By the ref the list showed: the client never sees a session ID, and sends none.
  logoutDevice: signedIn.input(z.string()).mutation(({ ctx, input }) => sessions.revokeSession(ctx.userId, input)),
  logoutOtherDevices: signedIn.mutation(({ ctx }) => sessions.revokeOtherSessions(ctx.current)),
  logoutEverywhere: signedIn.mutation(({ ctx }) => sessions.revokeUser(ctx.userId)),
});

export type DevicesRouter = typeof router;

createHTTPServer({ router, createContext }).listen(Number(process.env.PORT ?? 3000));
