import { createTRPCClient, httpLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, redisStore, SessionGoneError, type SessionError } from '../src/index.js';
import { eventually } from './helpers/fixture.js';
import { CookieJar, serveStandalone, type Served } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const FIELDS = 200;
const schema = z.object({
  ...Object.fromEntries(Array.from({ length: FIELDS }, (_, i) => [`f${i}`, z.number().optional()])),
  counter: z.number().int().default(0),
  shared: z.string().optional(),
}) as z.ZodObject<{ counter: z.ZodDefault<z.ZodNumber>; shared: z.ZodOptional<z.ZodString> } & Record<`f${number}`, z.ZodOptional<z.ZodNumber>>>;

function app(persist: 'after-response' | 'before-response') {
  const errors: SessionError[] = [];
  const sessions = createSessionManager({ schema, store: redisStore({ redis: redisClient }), persist, onError: (e) => errors.push(e) });
  const root = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const t = { router: root.router, procedure: root.procedure.concat(sessions.procedure) };
  let releaseSlow: () => void = () => {};
  const router = t.router({
    start: t.procedure.mutation(async ({ ctx }) => (await ctx.session.start()).id),
    setField: t.procedure.input(z.number().int()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.put(`f${input}`, input);
      return true;
    }),
    setShared: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.put('shared', input);
      return true;
    }),
    all: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.data.all() ?? null),
    increment: t.procedure.mutation(async ({ ctx }) => (await ctx.session.start()).data.update('counter', (n) => n + 1)),
    /** Changes the session, then waits for the test before answering: a request still running at logout. */
    slowWrite: t.procedure.mutation(async ({ ctx }) => {
      (await ctx.session.start()).data.put('shared', 'late');
      await new Promise<void>((resolve) => (releaseSlow = resolve));
      return true;
    }),
    logout: t.procedure.mutation(async ({ ctx }) => {
      await ctx.session.destroy();
      return true;
    }),
  });
  return { sessions, router, errors, release: () => releaseSlow() };
}

let redis: RedisServer;
let redisClient: ReturnType<RedisServer['client']>;
let inspect: ReturnType<RedisServer['client']>;
beforeAll(async () => {
  redis = await startRedis();
  redisClient = redis.client();
  inspect = redis.client();
});
afterAll(async () => {
  redisClient.disconnect();
  inspect.disconnect();
  await redis.stop(true);
});

async function serve(persist: 'after-response' | 'before-response' = 'after-response') {
  const built = app(persist);
  const served: Served = await serveStandalone(built.router, built.sessions.createContext);
  const jar = new CookieJar();
  const client = createTRPCClient<typeof built.router>({ links: [httpLink({ url: served.url, fetch: jar.fetch })] });
  return { ...built, served, jar, client };
}

/** Runs `count` calls with at most `width` in flight. */
async function inParallel(count: number, width: number, call: (index: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await call(next++);
    }),
  );
}

test(`${FIELDS} parallel requests from one client, each putting its own field, lose nothing`, async () => {
  const { client, served } = await serve();
  try {
    await client.start.mutate();
    await Promise.all(Array.from({ length: FIELDS }, (_, i) => client.setField.mutate(i)));
    await eventually(async () => expect(Object.values((await client.all.query()) ?? {}).length).toBe(FIELDS + 1));
    const all = (await client.all.query())!;
    for (let i = 0; i < FIELDS; i++) expect(all[`f${i}`]).toBe(i);
  } finally {
    await served.close();
  }
});

test('1,000 update() increments from concurrent requests sum exactly', async () => {
  const { client, served } = await serve();
  try {
    await client.start.mutate();
    const results: number[] = [];
    await inParallel(1000, 25, async () => results.push(await client.increment.mutate()));
    expect((await client.all.query())?.counter).toBe(1000);
    // Each increment saw its own value: no two calls returned the same count.
    expect(new Set(results).size).toBe(1000);
  } finally {
    await served.close();
  }
});

test('concurrent puts of the same field: the last write wins, whole', async () => {
  const { client, served } = await serve();
  try {
    await client.start.mutate();
    await Promise.all(['a', 'b', 'c', 'd'].map((value) => client.setShared.mutate(value.repeat(100))));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shared = (await client.all.query())?.shared;
    expect(['a', 'b', 'c', 'd'].map((v) => v.repeat(100))).toContain(shared);
  } finally {
    await served.close();
  }
});

test('a slow request racing destroy() does not resurrect the session; its write is reported', async () => {
  const { client, served, errors, release, jar } = await serve();
  try {
    const id = await client.start.mutate();
    await eventually(async () => expect(await inspect.exists(`session:${id}`)).toBe(1));
    const cookie = jar.header();
    const slow = client.slowWrite.mutate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.logout.mutate();
    expect(await inspect.type(`session:${id}`)).toBe('string'); // no record: the logout's revoked mark
    // The slow request still carries the old cookie: its late write must not bring the record back.
    expect(cookie).toContain(id);
    release();
    await slow;
    await eventually(() => expect(errors.some((e) => e instanceof SessionGoneError)).toBe(true));
    expect(await inspect.type(`session:${id}`)).toBe('string'); // no record: the logout's revoked mark
    expect(errors.find((e) => e instanceof SessionGoneError)?.message).not.toContain(id);
  } finally {
    await served.close();
  }
});

test("in 'before-response' mode the write has landed when the response arrives", async () => {
  const { client, served } = await serve('before-response');
  try {
    const id = await client.start.mutate();
    expect(await inspect.exists(`session:${id}`)).toBe(1);
    for (let i = 0; i < 20; i++) {
      await client.setField.mutate(i);
      expect(await inspect.hexists(`session:${id}`, `d:f${i}`)).toBe(1);
    }
  } finally {
    await served.close();
  }
});
