import { initTRPC } from '@trpc/server';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore, type SessionContext } from '../src/index.js';
import { schema, sessionProcedure, testManager, type TestManagerOptions, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient, type Served } from './helpers/http.js';
import { serveWithWebSocket, wsClient } from './helpers/servers.js';
import { collect, useRedis } from './helpers/transport-contract.js';

const redis = useRedis();
const closing: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const close of closing.reverse()) await close();
});

async function start(options: TestManagerOptions = {}, wsRouter?: Parameters<typeof serveWithWebSocket>[1]) {
  const { sessions, errors } = testManager(redisStore({ redis: redis.client }), options);
  const served = await serveWithWebSocket(sessions, wsRouter);
  closing.push(() => served.close());
  return { served, errors };
}

/** A browser tab: a session started over HTTP (counter 1), then a WebSocket carrying its cookie. */
function tab(served: Served & { wsUrl: string }, jar = new CookieJar()) {
  const http = trpcClient<TestRouter>(served.url, jar);
  return {
    jar,
    http,
    connect() {
      const ws = wsClient(served.wsUrl, jar);
      closing.push(ws.close);
      return ws.client;
    },
  };
}

const WEBSOCKET_ERROR = /WebSocket.*no session cookie can be set.*httpBatchLink/;

let served: Served & { wsUrl: string };
let errors: ReturnType<typeof testManager>['errors'];
beforeAll(async () => ({ served, errors } = await start()));

test('a session started over HTTP is read and written over the WebSocket; the next call and request see the write', async () => {
  const { http, jar, connect } = tab(served);
  expect(await http.increment.mutate()).toBe(1);
  const ws = connect();
  expect((await ws.read.query()).counter).toBe(1);
  expect(await ws.increment.mutate()).toBe(2);
  expect((await ws.read.query()).counter).toBe(2);
  expect(await ws.addToCart.mutate({ productId: 'p1', quantity: 1 })).toHaveLength(1);
  expect(await http.read.query()).toMatchObject({ counter: 2, cart: [{ productId: 'p1', quantity: 1 }] });
  expect(jar.received).toHaveLength(1);
});

test('each WebSocket call loads the session afresh: it sees what another tab wrote since', async () => {
  const { http, jar, connect } = tab(served);
  await http.increment.mutate();
  const ws = connect();
  expect((await ws.read.query()).counter).toBe(1);
  const otherTab = trpcClient<TestRouter>(served.url, jar);
  await otherTab.increment.mutate();
  await otherTab.increment.mutate();
  expect((await ws.read.query()).counter).toBe(3);
});

test('a subscription over the WebSocket writes the session once it ends', async () => {
  const { http, connect } = tab(served);
  await http.increment.mutate();
  const ws = connect();
  expect(await collect<number>((handlers) => ws.countUp.subscribe(3, handlers))).toEqual([2, 3, 4]);
  expect((await http.read.query()).counter).toBe(4);
});

test('start() without a session, regenerate() and destroy() fail over the WebSocket with a clear error', async () => {
  const fresh = tab(served).connect();
  await expect(fresh.read.query()).rejects.toThrow(WEBSOCKET_ERROR);
  expect(await fresh.peek.query()).toBeNull();

  const { http, connect } = tab(served);
  await http.increment.mutate();
  const ws = connect();
  await expect(ws.login.mutate('ada')).rejects.toThrow(WEBSOCKET_ERROR);
  await expect(ws.logout.mutate()).rejects.toThrow(WEBSOCKET_ERROR);
  expect(await http.peek.query()).toMatchObject({ data: { counter: 1 } });
});

test("'before-response': a WebSocket call's write is in Redis when its result arrives", async () => {
  const { served: strict } = await start({ persist: 'before-response' });
  const { http, jar, connect } = tab(strict);
  await http.increment.mutate();
  const ws = connect();
  expect(await ws.increment.mutate()).toBe(2);
  const stored = await redis.inspect.hgetBuffer(`session:${jar.cookies.get('sid')}`, 'd:counter');
  expect(unpack(stored!)).toBe(2);
});

test('a procedure not built on sessions.procedure fails over the WebSocket with an error that names it', async () => {
  const t = initTRPC.context<SessionContext<typeof schema>>().create();
  const bare = t.router({ read: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.id ?? null) });
  const { served: unscoped } = await start({}, bare);
  const { http, connect } = tab(unscoped);
  await http.increment.mutate();
  await expect(connect().read.query()).rejects.toThrow(/build your procedures on `sessions.procedure`/);
});

test('an observable subscription over the WebSocket writes the session once it stops', async () => {
  const t = initTRPC.context<SessionContext<typeof schema>>().create();
  const procedure = t.procedure.concat(sessionProcedure);
  const observing = t.router({
    countUp: procedure.subscription(({ ctx }) =>
      observable<number>((emit) => {
        void ctx.session.start().then((session) => {
          for (let step = 0; step < 2; step++) {
            session.data.put('counter', session.data.get('counter') + 1);
            emit.next(session.data.get('counter'));
          }
          emit.complete();
        });
      }),
    ),
  });
  const { served: withObservable } = await start({}, observing);
  const { http, connect } = tab(withObservable);
  await http.increment.mutate();
  const ws = connect() as unknown as { countUp: { subscribe: (input: undefined, handlers: object) => Unsubscribable } };
  expect(await collect<number>((handlers) => ws.countUp.subscribe(undefined, handlers))).toEqual([2, 3]);
  expect((await http.read.query()).counter).toBe(3);
});

test('no write was reported as failed', () => {
  expect(errors).toEqual([]);
});
