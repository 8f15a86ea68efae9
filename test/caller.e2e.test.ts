import { parseSetCookie } from 'cookie';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createCallerContext, redisStore, SessionUnavailableError } from '../src/index.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient, type Served } from './helpers/http.js';
import { serveNodeHTTP } from './helpers/servers.js';
import { useRedis } from './helpers/transport-contract.js';

const redis = useRedis();
let sessions: ReturnType<typeof testManager>['sessions'];
let errors: ReturnType<typeof testManager>['errors'];
let served: Served;
beforeAll(async () => {
  ({ sessions, errors } = testManager(redisStore({ redis: redis.client })));
  served = await serveNodeHTTP(sessions);
});
afterAll(() => served.close());

/** A browser whose session (counter 1) was started over HTTP; `sid` is its cookie's value. */
async function browserSession() {
  const jar = new CookieJar();
  const http = trpcClient<TestRouter>(served.url, jar);
  await http.increment.mutate();
  return { http, sid: jar.cookies.get('sid')! };
}

test("a server-side caller uses the session of the cookie value it is given; each call's write lands before it returns", async () => {
  const { http, sid } = await browserSession();
  const caller = router.createCaller(createCallerContext(sessions, { cookie: sid }));
  expect((await caller.read()).counter).toBe(1);
  expect(await caller.increment()).toBe(2);
  expect(await redis.inspect.exists(`session:${sid}`)).toBe(1);
  expect((await caller.read()).counter).toBe(2);
  expect(await caller.addToCart({ productId: 'p1', quantity: 3 })).toHaveLength(1);
  expect(await http.read.query()).toMatchObject({ counter: 2, cart: [{ productId: 'p1', quantity: 3 }] });
});

test('without setCookie, a caller reads and writes an existing session but cannot start, regenerate or destroy one', async () => {
  const anonymous = router.createCaller(createCallerContext(sessions, { cookie: undefined }));
  expect(await anonymous.peek()).toBeNull();
  await expect(anonymous.read()).rejects.toThrow(SessionUnavailableError);
  await expect(anonymous.read()).rejects.toThrow(/pass `setCookie` to `createCallerContext`/);

  const { sid } = await browserSession();
  const caller = router.createCaller(createCallerContext(sessions, { cookie: sid }));
  await expect(caller.login('ada')).rejects.toThrow(/setCookie/);
  await expect(caller.logout()).rejects.toThrow(/setCookie/);
  expect(await caller.peek()).toMatchObject({ id: sid, data: { counter: 1 } });
});

test('with setCookie, a caller starts a session and hands out its cookie, with the configured attributes', async () => {
  const headers: string[] = [];
  const caller = router.createCaller(createCallerContext(sessions, { cookie: undefined, secure: true, setCookie: (header) => headers.push(header) }));
  expect(await caller.increment()).toBe(1);
  expect(headers).toHaveLength(1);
  const cookie = parseSetCookie(headers[0]!);
  expect(cookie).toMatchObject({ name: 'sid', path: '/', httpOnly: true, sameSite: 'lax', secure: true, maxAge: 86_400 });
  expect(await redis.inspect.exists(`session:${cookie.value}`)).toBe(1);

  const jar = new CookieJar();
  jar.cookies.set('sid', cookie.value!);
  expect((await trpcClient<TestRouter>(served.url, jar).read.query()).counter).toBe(1);

  const id = await caller.login('ada');
  expect(parseSetCookie(headers.at(-1)!).value).toBe(id);
});

test('a server-side call with no request at all points at createCallerContext', async () => {
  await expect(router.createCaller(sessions.createContext()).read()).rejects.toThrow(/createCallerContext/);
});

test('no write was reported as failed', () => {
  expect(errors).toEqual([]);
});

test("a caller's cookie is Secure by the adapters' rule: the request's own protocol, or X-Forwarded-Proto under trustProxy", async () => {
  const proxied = testManager(redisStore({ redis: redis.client }), { trustProxy: true }).sessions;
  const secureOf = async (manager: typeof sessions, options: { secure?: boolean; forwardedProto?: string | null }) => {
    const headers: string[] = [];
    await router.createCaller(createCallerContext(manager, { cookie: undefined, setCookie: (header) => headers.push(header), ...options })).increment();
    return parseSetCookie(headers[0]!).secure === true;
  };
  expect(await secureOf(proxied, { forwardedProto: 'https' })).toBe(true);
  expect(await secureOf(proxied, { forwardedProto: 'http' })).toBe(false);
  expect(await secureOf(sessions, { forwardedProto: 'https' }), 'without trustProxy the header is not believed').toBe(false);
  expect(await secureOf(sessions, { secure: true, forwardedProto: 'http' })).toBe(true);
});
