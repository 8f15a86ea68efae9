import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { encodeValue } from '../src/codec.js';
import { createSessionManager } from '../src/index.js';
import { ownRouterFixture } from './helpers/fixture.js';
import { browser } from './helpers/http.js';

// A schema that throws while validating (here an async refinement, which zod's synchronous parse refuses) is
// a bug in the schema, not bad data: a clear error to the procedure, and nothing stored is dropped for it.
const schema = z.object({
  visits: z.number().default(0),
  name: z
    .string()
    .refine(async (name) => name !== '')
    .optional(),
});

let fx: Awaited<ReturnType<typeof ownRouterFixture>>;

function buildRouter(sessions: ReturnType<typeof createSessionManager<typeof schema>>) {
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  return t.router({
    visit: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('visits', session.data.get('visits') + 1);
      return session.id;
    }),
    rename: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.put('name', input);
      return true;
    }),
    name: t.procedure.query(async ({ ctx }) => (await ctx.session.start()).data.get('name') ?? null),
  });
}

beforeAll(async () => {
  fx = await ownRouterFixture((store, onError) => {
    const sessions = createSessionManager({ schema, store, onError });
    return { router: buildRouter(sessions), createContext: sessions.createContext };
  });
});
afterAll(() => fx.close());

const THROWN = /validating session field "name" threw: .*async refinements are not supported/;

test('a put through a schema that throws fails with an error naming the field; the session is unchanged', async () => {
  const { client: trpc } = browser<ReturnType<typeof buildRouter>>(fx.served.url, 'single');
  const id = await trpc.visit.mutate();
  await expect(trpc.rename.mutate('ada')).rejects.toThrow(THROWN);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await fx.client.hexists(`session:${id}`, 'd:name')).toBe(0);
  expect(await fx.client.hget(`session:${id}`, 'd:visits')).not.toBeNull();
});

test('a stored field read through a schema that throws fails the call, and stays stored and unreported', async () => {
  const { client: trpc } = browser<ReturnType<typeof buildRouter>>(fx.served.url, 'single');
  const id = await trpc.visit.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await fx.client.hset(`session:${id}`, 'd:name', Buffer.from(encodeValue('ada')));
  await expect(trpc.name.query()).rejects.toThrow(THROWN);
  expect(await trpc.visit.mutate()).toBe(id);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await fx.client.hexists(`session:${id}`, 'd:name')).toBe(1);
  expect(fx.errors).toEqual([]);
});
