import { initTRPC } from '@trpc/server';
import * as z from 'zod';
import { createSessionManager, memoryStore, type SessionError, type SessionManagerOptions, type SessionStore } from '../../src/index.js';

export const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });

export const schema = z.object({
  cart: z.array(item).default([]),
  userId: z.string().optional(),
  counter: z.number().int().default(0),
  visits: z.number().int().default(0),
  note: z.string().max(10_000_000).optional(),
  extra: z.unknown().optional(),
});

export type TestManagerOptions = Partial<Omit<SessionManagerOptions<typeof schema>, 'schema' | 'store'>>;

/** A session manager over `store` whose reported errors are collected in `errors`. */
export function testManager(store: SessionStore, options: TestManagerOptions = {}) {
  const errors: SessionError[] = [];
  const sessions = createSessionManager({ schema, store, onError: (error) => errors.push(error), ...options });
  return { sessions, errors };
}

type Sessions = ReturnType<typeof testManager>['sessions'];
const root = initTRPC.context<ReturnType<Sessions['createContext']>>().create();
/**
 * Every procedure is built on `sessions.procedure`, for the WebSocket, caller and 'before-response' tests (a
 * pass-through over HTTP after the response). Its middleware serves the sessions of any manager, so one
 * manager's `procedure` serves the router for every manager the tests create.
 */
export const sessionProcedure = createSessionManager({ schema, store: memoryStore() }).procedure;
const t = { router: root.router, procedure: root.procedure.concat(sessionProcedure) };

export function richValue() {
  return {
    at: new Date('2026-01-02T03:04:05.678Z'),
    tags: new Set(['a', 'b']),
    prices: new Map<string, number>([['p1', 9.5]]),
    big: 12345678901234567890n,
    bytes: new Uint8Array([0, 1, 255]),
    nested: { list: [1, 'two', { three: null }] },
  };
}

/** The router most end-to-end tests drive: one procedure per session operation. */
export const router = t.router({
  ping: t.procedure.query(() => 'pong'),
  read: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.start();
    return { id: session.id, counter: session.data.get('counter'), cart: session.data.get('cart') };
  }),
  peek: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session === null ? null : { id: session.id, data: session.data.all() };
  }),
  increment: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('counter', session.data.get('counter') + 1);
    return session.data.get('counter');
  }),
  atomicIncrement: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    return session.data.update('counter', (counter) => counter + 1);
  }),
  addToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.put('cart', [...session.data.get('cart'), input]);
    return session.data.get('cart');
  }),
  pushToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.get('cart').push(input);
    return session.data.get('cart').length;
  }),
  put: t.procedure
    .input(z.object({ key: z.enum(['note', 'extra', 'counter', 'userId']), value: z.unknown() }))
    .mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put(input.key, input.value as never);
      return true;
    }),
  putAndPersist: t.procedure.input(z.object({ note: z.string() })).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    session.data.put('note', input.note);
    await ctx.session.persist();
    return true;
  }),
  /** Stores a value with rich types built on the server (JSON cannot carry them from the client). */
  putRich: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('extra', richValue());
    return describe(session.data.get('extra'));
  }),
  describeExtra: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.start();
    return describe(session.data.get('extra'));
  }),
  /** Tries to store something msgpackr cannot read back as itself; answers with the error it got. */
  putUnstorable: t.procedure.input(z.enum(['function', 'symbol', 'class', 'cycle'])).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    class Point {
      x = 1;
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const values = { function: { run: () => 1 }, symbol: { tag: Symbol('x') }, class: { at: new Point() }, cycle };
    try {
      session.data.put('extra', values[input]);
      return { stored: true };
    } catch (error) {
      return { stored: false, name: (error as Error).name, message: (error as Error).message };
    }
  }),
  login: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate();
    session.data.put('userId', input);
    return session.id;
  }),
  /** Logs in as a bound user: the session lists under the user and ends with `revokeUser`. */
  signIn: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate();
    await session.bindUser(input);
    return session.ref;
  }),
  whoami: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session === null ? null : { userId: session.userId, ref: session.ref };
  }),
  /** `regenerate()` alone, without input (a form can post to it). */
  renew: t.procedure.mutation(async ({ ctx }) => {
    await ctx.session.regenerate();
    return true;
  }),
  logout: t.procedure.mutation(async ({ ctx }) => {
    await ctx.session.destroy();
    return true;
  }),
  /** Counts `input` times, adding each step to the session's counter and yielding it. */
  countUp: t.procedure.input(z.number().int().positive()).subscription(async function* ({ ctx, input }) {
    const session = await ctx.session.start();
    for (let step = 0; step < input; step++) {
      session.data.put('counter', session.data.get('counter') + 1);
      yield session.data.get('counter');
    }
  }),
});

export type TestRouter = typeof router;

/** Names each part of a value by its type, so a test can see what came back from the store over JSON. */
export function describe(value: unknown): unknown {
  if (value instanceof Map) return { Map: [...value].map(([key, entry]) => [describe(key), describe(entry)]) };
  if (value instanceof Set) return { Set: [...value].map(describe) };
  if (value instanceof Date) return { Date: value.toISOString() };
  if (value instanceof Uint8Array) return { Uint8Array: [...value] };
  if (typeof value === 'bigint') return { BigInt: value.toString() };
  if (Array.isArray(value)) return value.map(describe);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, describe(entry)]));
  return value;
}
