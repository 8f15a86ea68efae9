import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { nextActionContext, nextRenderContext, type NextCookieStore } from '../src/adapters/next.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient, type Served } from './helpers/http.js';
import { serveNodeHTTP } from './helpers/servers.js';
import { useRedis } from './helpers/transport-contract.js';

// The README's rule: a render cannot refresh the cookie, so it leaves the record's expiry alone too (the two
// end together); a server action (or any response that can carry a cookie) refreshes both.

const redis = useRedis();
let sessions: ReturnType<typeof testManager>['sessions'];
let served: Served;
beforeAll(async () => {
  ({ sessions } = testManager(redisStore({ redis: redis.client }), { cookie: { lifespan: 60 }, touchAfter: 1 }));
  served = await serveNodeHTTP(sessions);
});
afterAll(() => served.close());

/** Next.js's cookie store as a server component or action sees it: the request's cookie, and what was set. */
function cookieStore(sid: string) {
  const set: Parameters<NextCookieStore['set']>[0][] = [];
  const store: NextCookieStore = { get: (name) => (name === 'sid' ? { value: sid } : undefined), set: (cookie) => set.push(cookie) };
  return { store, set };
}

/** The headers Next.js gives an action the browser reached directly over plain HTTP: it sets X-Forwarded-Proto itself. */
const direct = new Headers({ 'x-forwarded-proto': 'http' });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a render leaves the expiry alone, as it cannot refresh the cookie; a server action refreshes both, with the attributes', async () => {
  const jar = new CookieJar();
  await trpcClient<TestRouter>(served.url, jar).increment.mutate();
  const sid = jar.cookies.get('sid')!;
  await expect.poll(() => redis.inspect.exists(`session:${sid}`)).toBe(1);

  await pause(1_100); // past touchAfter: the next read refreshes the expiry
  const before = await redis.inspect.pttl(`session:${sid}`);
  const render = cookieStore(sid);
  expect((await router.createCaller(nextRenderContext(sessions, render.store)).peek())?.data.counter).toBe(1);
  expect(await redis.inspect.pttl(`session:${sid}`)).toBeLessThanOrEqual(before);
  expect(render.set, 'a render sets no cookie').toEqual([]);

  await pause(1_100);
  const action = cookieStore(sid);
  expect(await router.createCaller(nextActionContext(sessions, action.store, direct)).increment()).toBe(2);
  expect(action.set).toEqual([{ name: 'sid', value: sid, maxAge: 60, path: '/', httpOnly: true, sameSite: 'lax' }]);
  expect(await redis.inspect.pttl(`session:${sid}`)).toBeGreaterThan(before);
});

test("a server action's start, regenerate and destroy set the cookie through Next's store; a render's fail", async () => {
  const none: NextCookieStore = { get: () => undefined, set: () => expect.unreachable('a render sets no cookie') };
  await expect(router.createCaller(nextRenderContext(sessions, none)).increment()).rejects.toMatchObject({ name: 'SessionUnavailableError' });

  const start = cookieStore('');
  expect(await router.createCaller(nextActionContext(sessions, { get: () => undefined, set: start.store.set }, direct)).increment()).toBe(1);
  expect(start.set).toEqual([{ name: 'sid', value: expect.any(String), maxAge: 60, path: '/', httpOnly: true, sameSite: 'lax' }]);
  const guest = start.set[0]!.value;
  expect(await redis.inspect.exists(`session:${guest}`)).toBe(1);

  const login = cookieStore(guest);
  await router.createCaller(nextActionContext(sessions, login.store, direct)).login('ada');
  const user = login.set.at(-1)!.value;
  expect(user).not.toBe(guest);
  expect(await redis.inspect.type(`session:${guest}`)).toBe('string'); // no record: only the moved mark
  expect(await redis.inspect.exists(`session:${user}`)).toBe(1);

  const logout = cookieStore(user);
  await router.createCaller(nextActionContext(sessions, logout.store, direct)).logout();
  expect(logout.set).toEqual([expect.objectContaining({ name: 'sid', value: '', maxAge: 0 })]);
  expect(await redis.inspect.get(`session:${user}`)).toMatch(/^trpc-session:revoked\n/); // no record: the logout's mark
});

test("a server action's cookie is Secure when Next.js has the request as HTTPS, as a route handler's would be", async () => {
  for (const [forwarded, secure] of [['https', true], ['http', false]] as const) {
    const action = cookieStore('');
    const headers = new Headers({ 'x-forwarded-proto': forwarded });
    await router.createCaller(nextActionContext(sessions, { get: () => undefined, set: action.store.set }, headers)).increment();
    expect(action.set, forwarded).toEqual([expect.objectContaining({ name: 'sid', httpOnly: true, ...(secure ? { secure: true } : {}) })]);
    expect('secure' in action.set[0]!, forwarded).toBe(secure);
  }
});
