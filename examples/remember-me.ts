import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { createCallerContext, createSessionManager, memoryStore, type SessionContext } from 'trpc-session';

const schema = z.object({ userId: z.string().optional() });
const sessions = createSessionManager({ schema, store: memoryStore(), cookie: { lifespan: 86400 } }); // a day unused, by default
const t = initTRPC.context<SessionContext<typeof schema>>().create();
const procedure = t.procedure.concat(sessions.procedure);

const router = t.router({
  login: procedure.input(z.object({ userId: z.string(), rememberMe: z.boolean() })).mutation(async ({ ctx, input }) => {
    // Remembered: 30 days unused. Otherwise a browser session: its cookie ends when the browser closes.
    const session = await ctx.session.regenerate({ lifespan: input.rememberMe ? 30 * 86400 : 'browser' });
    session.data.put('userId', input.userId);
  }),
});

// Two logins from the server side, printing the cookie each sets (its value elided).
async function main() {
  for (const rememberMe of [true, false]) {
    const setCookie = (header: string) => console.log(header.replace(/=[^;]+/, '=…'));
    await router.createCaller(createCallerContext(sessions, { cookie: undefined, setCookie })).login({ userId: 'ada', rememberMe });
  }
  await sessions.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
