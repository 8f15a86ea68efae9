import { createTRPCUntypedClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { expect, test } from 'vitest';
import { z } from 'zod';
import { createSessionManager, memoryStore, SessionUnavailableError, type SessionContext } from '../src/index.js';
import { serveStandalone } from './helpers/http.js';

const schema = z.object({ visits: z.number().int().default(0) });

/**
 * A server whose context lacks the session handle: what JavaScript (or a context typed by a cast) allows, and
 * TypeScript refuses. A procedure on `sessions.procedure` says what is missing, through tRPC, instead of
 * `Cannot read properties of undefined (reading 'Symbol(trpc-session.call-scope)')`.
 */
function app(contextKey?: string) {
  const sessions = createSessionManager({ schema, store: memoryStore(), ...(contextKey === undefined ? {} : { contextKey }) });
  const t = initTRPC.context<SessionContext<typeof schema>>().create();
  const procedure = t.procedure.concat(sessions.procedure as never) as typeof t.procedure;
  const router = t.router({ visit: procedure.mutation(async ({ ctx }) => (await ctx.session.start()).id.length) });
  return { sessions, router };
}

test('over HTTP, a context without the session handle fails each call with PRECONDITION_FAILED, saying to spread sessions.createContext', async () => {
  const { router } = app();
  const served = await serveStandalone(router, () => ({ ip: '127.0.0.1' }));
  try {
    const client = createTRPCUntypedClient({ links: [httpBatchLink({ url: served.url })] });
    const failure = await client.mutation('visit').then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TRPCClientError);
    const error = failure as Error & { data: { code: string } };
    expect(error.data.code).toBe('PRECONDITION_FAILED');
    expect(error.message).toContain('ctx.session is missing');
    expect(error.message).toContain('...sessions.createContext(opts)');
  } finally {
    await served.close();
  }
});

test('a server-side caller given no context, and a contextKey the context lacks, get a SessionUnavailableError naming the key', async () => {
  const plain = app();
  await expect(plain.router.createCaller({} as never).visit()).rejects.toThrow(SessionUnavailableError);
  await expect(plain.router.createCaller(undefined as never).visit()).rejects.toThrow('ctx.session is missing');
  const keyed = app('basket');
  await expect(keyed.router.createCaller({ session: {} } as never).visit()).rejects.toThrow('ctx.basket is missing');
});
