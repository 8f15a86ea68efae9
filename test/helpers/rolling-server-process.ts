/**
 * The entry point of one app server of a rolling deploy (test/rolling-deploy.e2e.test.ts): the README's
 * `cartItems → cart` example at SCHEMA_VERSION 1 (the basket as `cartItems`) or 2 (as `cart`, with migration 2),
 * over the redis-server on REDIS_PORT, on a free loopback port. A request to `add` with `hold` stops once it has
 * read the session, until the test lets it go on (`reached`, then `release`), so the test orders the two
 * versions' reads and writes. It prints its URL as one JSON line, then serves until SIGTERM.
 */
import { initTRPC } from '@trpc/server';
import { Redis } from 'ioredis';
import * as z from 'zod';
import { createSessionManager, redisStore, type SessionContext } from '../../src/index.js';
import { serveStandalone } from './http.js';

const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });
const version = Number(process.env.SCHEMA_VERSION);
const basket = version === 1 ? 'cartItems' : 'cart';
const schema = z.object({ [basket]: z.array(item).default([]) }) as z.ZodObject<{ cart: z.ZodDefault<z.ZodArray<typeof item>> }>;

const sessions = createSessionManager({
  schema,
  store: redisStore({ redis: () => new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT) }) }),
  persist: 'before-response',
  ...(version === 1 ? {} : { schemaVersion: 2, migrations: { 2: ({ cartItems, ...fields }) => ({ ...fields, cart: cartItems }) } }),
  onError: () => undefined,
});

/** A promise and the function that resolves it. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Requests held after their read, by name: `read` resolves once the request has read the session. */
const holds = new Map<string, { read: ReturnType<typeof deferred>; go: ReturnType<typeof deferred> }>();
const hold = (name: string) => {
  let entry = holds.get(name);
  if (entry === undefined) holds.set(name, (entry = { read: deferred(), go: deferred() }));
  return entry;
};

const t = initTRPC.context<SessionContext<typeof schema>>().create();
const procedure = t.procedure.concat(sessions.procedure);
const router = t.router({
  /** Adds a line to the basket: a `put` of the basket read, or a `data.update`. */
  add: procedure.input(z.object({ item, how: z.enum(['put', 'update']), hold: z.string().optional() })).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.start();
    const read = session.data.get(basket as 'cart');
    if (input.hold !== undefined) {
      const held = hold(input.hold);
      held.read.resolve();
      await held.go.promise;
      holds.delete(input.hold);
    }
    if (input.how === 'update') await session.data.update(basket as 'cart', (lines) => [...lines, input.item]);
    else {
      session.data.put(basket as 'cart', [...read, input.item]);
      await ctx.session.persist();
    }
    return session.id;
  }),
  reached: t.procedure.input(z.string()).mutation(({ input }) => hold(input).read.promise),
  release: t.procedure.input(z.string()).mutation(({ input }) => hold(input).go.resolve()),
  basket: procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    return session === null ? null : { lines: session.data.get(basket as 'cart'), schemaVersion: session.meta.schemaVersion };
  }),
});
export type RollingRouter = typeof router;

const served = await serveStandalone(router, sessions.createContext);
process.stdout.write(`${JSON.stringify({ url: served.url, pid: process.pid })}\n`);

process.once('SIGTERM', async () => {
  await served.close();
  await sessions.close();
  process.exit(0);
});
