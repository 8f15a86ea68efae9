import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { encodeValue } from '../src/codec.js';
import { createSessionManager, redisStore, type SessionError } from '../src/index.js';
import { browser, serveStandalone, type Served } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

// A schema that throws while validating (here an async refinement, which zod's synchronous parse refuses) is
// a bug in the schema, not bad data: a clear error to the procedure, and nothing stored is dropped for it.
const schema = z.object({
  visits: z.number().default(0),
  name: z
    .string()
    .refine(async (name) => name !== '')
    .optional(),
});

let redis: RedisServer;
let client: ReturnType<RedisServer['client']>;
let served: Served;
const errors: SessionError[] = [];

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
  redis = await startRedis();
  client = redis.client();
  const sessions = createSessionManager({ schema, store: redisStore({ redis: client }), onError: (e) => errors.push(e) });
  served = await serveStandalone(buildRouter(sessions), sessions.createContext);
});
afterAll(async () => {
  await served.close();
  client.disconnect();
  await redis.stop(true);
});

const THROWN = /validating session field "name" threw: .*async refinements are not supported/;

test('a put through a schema that throws fails with an error naming the field; the session is unchanged', async () => {
  const { client: trpc } = browser<ReturnType<typeof buildRouter>>(served.url, 'single');
  const id = await trpc.visit.mutate();
  await expect(trpc.rename.mutate('ada')).rejects.toThrow(THROWN);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await client.hexists(`session:${id}`, 'd:name')).toBe(0);
  expect(await client.hget(`session:${id}`, 'd:visits')).not.toBeNull();
});

test('a stored field read through a schema that throws fails the call, and stays stored and unreported', async () => {
  const { client: trpc } = browser<ReturnType<typeof buildRouter>>(served.url, 'single');
  const id = await trpc.visit.mutate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await client.hset(`session:${id}`, 'd:name', Buffer.from(encodeValue('ada')));
  await expect(trpc.name.query()).rejects.toThrow(THROWN);
  expect(await trpc.visit.mutate()).toBe(id);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await client.hexists(`session:${id}`, 'd:name')).toBe(1);
  expect(errors).toEqual([]);
});
