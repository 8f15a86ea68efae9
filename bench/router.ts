import { initTRPC } from '@trpc/server';

/**
 * What each variant does to its session in the benchmark's procedures. Every variant implements the same
 * three operations, so the router (and tRPC's own cost) is identical and only the session work differs.
 */
export interface CounterSession<Ctx extends object> {
  /** Reads the counter from the client's session. */
  read(ctx: Ctx): Promise<number>;
  /** Increments the counter in the client's session, which is written back. */
  increment(ctx: Ctx): Promise<number>;
  /** Starts a session for a client that sent no cookie and records its first visit, so it is stored. */
  begin(ctx: Ctx): Promise<number>;
}

/** The one router every variant serves. */
export function benchRouter<Ctx extends object>(session: CounterSession<Ctx>) {
  // Procedures see the variant's own context, which tRPC passes through untouched.
  const t = initTRPC.context<object>().create();
  return t.router({
    counter: t.procedure.query(({ ctx }) => session.read(ctx as Ctx)),
    increment: t.procedure.mutation(({ ctx }) => session.increment(ctx as Ctx)),
    ping: t.procedure.query(() => 'pong'),
    begin: t.procedure.mutation(({ ctx }) => session.begin(ctx as Ctx)),
  });
}

export type BenchRouter = ReturnType<typeof benchRouter<object>>;
