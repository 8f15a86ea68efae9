import { TRPCClientError } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { createSessionManager, redisStore, SessionStoreUnavailableError, type SessionError } from '../src/index.js';
import { schema } from './helpers/app.js';
import { eventually } from './helpers/fixture.js';
import { browser, serveStandalone, type Served } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

let redis: RedisServer;
let served: Served;
const errors: SessionError[] = [];
let release: () => void = () => {};

function buildRouter(sessions: ReturnType<typeof createSessions>) {
  const root = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const t = { router: root.router, procedure: root.procedure.concat(sessions.procedure) };
  return t.router({
    ping: t.procedure.query(() => 'pong'),
    count: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('counter', session.data.get('counter') + 1);
      return session.data.get('counter');
    }),
    /** Changes the session, then answers only when the test says so. */
    gatedCount: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('counter', session.data.get('counter') + 1);
      await new Promise<void>((resolve) => (release = resolve));
      return session.data.get('counter');
    }),
  });
}

function createSessions(client: ReturnType<RedisServer['client']>) {
  return createSessionManager({ schema, store: redisStore({ redis: client, commandTimeout: 300 }), onError: (e) => errors.push(e) });
}

type FaultRouter = ReturnType<typeof buildRouter>;

beforeAll(async () => {
  redis = await startRedis();
  const client = redis.client({ maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // connection errors are expected here; the store reports what matters
  const sessions = createSessions(client);
  served = await serveStandalone(buildRouter(sessions), sessions.createContext);
});
afterAll(async () => {
  await served.close();
  await redis.stop(true);
});
beforeEach(() => {
  errors.length = 0;
});

async function expectStoreUnavailable(call: Promise<unknown>) {
  const error = await call.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TRPCClientError);
  expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 });
  expect((error as Error).message).toBe('Session store unavailable');
}

test('with Redis stopped, calls that never touch the session work, session calls fail fast, and all recovers', async () => {
  const { client } = browser<FaultRouter>(served.url, 'single');
  expect(await client.count.mutate()).toBe(1);
  await redis.stop(true);
  try {
    expect(await client.ping.query()).toBe('pong');
    await expectStoreUnavailable(client.count.mutate());
    await expectStoreUnavailable(client.count.mutate());
    expect(await client.ping.query()).toBe('pong');
  } finally {
    await redis.start();
  }
  // The restarted server is empty (nothing is saved), so the session starts over, on a new ID.
  await eventually(async () => expect(await client.count.mutate()).toBe(1), 10_000);
  expect(await client.count.mutate()).toBe(2);
});

test('with Redis paused (CLIENT PAUSE), session calls fail within the command timeout, then work again', async () => {
  const { client } = browser<FaultRouter>(served.url, 'single');
  await eventually(async () => expect(await client.count.mutate()).toBe(1), 10_000);
  const admin = redis.client();
  try {
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    expect(await client.ping.query()).toBe('pong');
    await expectStoreUnavailable(client.count.mutate());
  } finally {
    admin.disconnect();
  }
  await eventually(async () => expect(await client.count.mutate()).toBeGreaterThanOrEqual(2), 10_000);
});

test('a write that fails after the response goes to onError, with no data in it, and the server keeps serving', async () => {
  const { client } = browser<FaultRouter>(served.url, 'single');
  await eventually(async () => expect(await client.count.mutate()).toBe(1), 10_000);
  const pending = client.gatedCount.mutate();
  await eventually(() => expect(release).not.toBe(undefined));
  const admin = redis.client();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
  release();
  expect(await pending).toBe(2);
  await eventually(() => expect(errors.some((e) => e instanceof SessionStoreUnavailableError)).toBe(true));
  admin.disconnect();
  expect(await client.ping.query()).toBe('pong');
});

test("in 'before-response' mode a write that fails fails the response: no success for unsaved changes", async () => {
  const client = redis.client({ maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const sessions = createSessionManager({
    schema,
    store: redisStore({ redis: client, commandTimeout: 300 }),
    persist: 'before-response',
    onError: (e) => errors.push(e),
  });
  const strict = await serveStandalone(buildRouter(sessions), sessions.createContext);
  const admin = redis.client();
  try {
    await admin.ping(); // answers once an earlier test's pause is over
    const { client: trpc } = browser<FaultRouter>(strict.url, 'single');
    expect(await trpc.count.mutate()).toBe(1);
    const pending = trpc.gatedCount.mutate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
    release();
    // The procedure returned 2, but its write timed out: the client gets the store's error, not success.
    await expectStoreUnavailable(pending);
    expect(errors.some((e) => e instanceof SessionStoreUnavailableError)).toBe(true);
    await eventually(async () => expect(await trpc.count.mutate()).toBeGreaterThanOrEqual(2), 10_000);
  } finally {
    admin.disconnect();
    await strict.close();
    client.disconnect();
  }
});

test('the default onError logs to stderr with a shortened session ID and no data', async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(' '));
  try {
    const client = redis.client();
    const sessions = createSessionManager({ schema, store: redisStore({ redis: client }) });
    const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
    const router = t.router({
      read: t.procedure.query(async ({ ctx }) => {
        const session = await ctx.session.start();
        session.data.all(); // fields are decoded, and broken ones reported, when read
        return session.id;
      }),
    });
    const server = await serveStandalone(router, sessions.createContext);
    const { client: trpc } = browser<typeof router>(server.url);
    const id = await trpc.read.query();
    await eventually(async () => expect(await client.exists(`session:${id}`)).toBe(1));
    await client.hset(`session:${id}`, 'd:note', Buffer.from([0xc1]), 'd:userId', Buffer.from([0xa6, ...Buffer.from('secret')]));
    await client.hset(`session:${id}`, 'd:counter', Buffer.from([0xa6, ...Buffer.from('hidden')]));
    await trpc.read.query();
    await server.close();
    client.disconnect();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatch(/^\[trpc-session\] SessionFieldDroppedError: Session [A-Za-z0-9_-]{6}…: /);
      expect(line).not.toContain(id);
      expect(line).not.toContain('hidden');
    }
  } finally {
    console.error = original;
  }
});
