import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { eventually, redisFixture, sessionCommands, type Fixture } from './helpers/fixture.js';
import { browser, serveStandalone } from './helpers/http.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await redisFixture({ cookie: { lifespan: 3600 } });
  await fx.browser().client.read.query(); // load the scripts
});
afterAll(() => fx.close());

/** Sends one raw request with the given Cookie header; returns the Set-Cookie headers. */
async function call(url: string, path: string, cookie?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/${path}`, { headers: { ...headers, ...(cookie ? { cookie } : {}) } });
  return { status: response.status, setCookies: response.headers.getSetCookie(), body: await response.json() };
}

test('the session cookie defaults to HttpOnly, SameSite=Lax, Path=/, Max-Age = lifespan, no Secure over HTTP', async () => {
  const { setCookies } = await call(fx.served.url, 'read');
  expect(setCookies).toHaveLength(1);
  const [cookie] = setCookies;
  expect(cookie).toMatch(/^sid=[A-Za-z0-9_-]{32}; /);
  expect(cookie).toContain('Max-Age=3600');
  expect(cookie).toContain('Path=/');
  expect(cookie).toContain('HttpOnly');
  expect(cookie).toContain('SameSite=Lax');
  expect(cookie).not.toContain('Secure');
});

test('the Redis TTL equals the lifespan', async () => {
  const { client } = fx.browser();
  const { id } = await client.read.query();
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  const ttl = await fx.inspect.pttl(`session:${id}`);
  expect(ttl).toBeGreaterThan(3_590_000);
  expect(ttl).toBeLessThanOrEqual(3_600_000);
});

test.each([
  ['garbage', 'sid=not-a-session-id'],
  ['too long', `sid=${'a'.repeat(33)}`],
  ['bad characters', `sid=${'a'.repeat(31)}!`],
  ['empty', 'sid='],
  ['percent-encoded junk', 'sid=%E0%A4%A'],
])('a malformed cookie (%s) is ignored without touching Redis', async (_, cookie) => {
  await fx.redis.resetStats();
  const { body } = await call(fx.served.url, 'peek', cookie);
  expect(body.result.data).toBeNull();
  expect(await sessionCommands(fx.redis)).toEqual({});
});

test('a well-formed ID that Redis does not know is never adopted: start() makes a new one', async () => {
  const chosen = 'A'.repeat(32);
  const { setCookies, body } = await call(fx.served.url, 'read', `sid=${chosen}`);
  expect(body.result.data.id).not.toBe(chosen);
  expect(setCookies[0]).toContain(`sid=${body.result.data.id};`);
  await eventually(async () => expect(await fx.inspect.exists(`session:${body.result.data.id}`)).toBe(1));
  expect(await fx.inspect.exists(`session:${chosen}`)).toBe(0);
});

test('Secure is set when X-Forwarded-Proto says https only with trustProxy', async () => {
  const { setCookies: untrusted } = await call(fx.served.url, 'read', undefined, { 'x-forwarded-proto': 'https' });
  expect(untrusted[0]).not.toContain('Secure');
  const { sessions } = testManager(redisStore({ redis: fx.client }), { trustProxy: true });
  const served = await serveStandalone(router, sessions.createContext);
  try {
    const { setCookies } = await call(served.url, 'read', undefined, { 'x-forwarded-proto': 'https' });
    expect(setCookies[0]).toContain('Secure');
    const { setCookies: plain } = await call(served.url, 'read', undefined, { 'x-forwarded-proto': 'http' });
    expect(plain[0]).not.toContain('Secure');
  } finally {
    await served.close();
  }
});

test('every attribute is configurable', async () => {
  const { sessions } = testManager(redisStore({ redis: fx.client }), {
    cookie: { name: 'basket', lifespan: 60, path: '/api', domain: 'example.test', sameSite: 'strict', secure: true, httpOnly: false, priority: 'high' },
  });
  const served = await serveStandalone(router, sessions.createContext);
  try {
    const { setCookies } = await call(served.url, 'read');
    expect(setCookies[0]).toMatch(/^basket=[A-Za-z0-9_-]{32}; Max-Age=60; Domain=example.test; Path=\/api; Secure; Priority=High; SameSite=Strict$/);
  } finally {
    await served.close();
  }
});

test('signed cookies: forged signatures are rejected without a lookup, and an old secret still verifies and is re-signed', async () => {
  const oldSecret = 'o'.repeat(32);
  const newSecret = 'n'.repeat(32);
  const before = testManager(redisStore({ redis: fx.client }), { secrets: [oldSecret] });
  const served = await serveStandalone(router, before.sessions.createContext);
  const { client, jar } = browser<TestRouter>(served.url);
  const { id } = await client.increment.mutate().then(() => client.read.query());
  const signed = jar.cookies.get('sid')!;
  expect(signed).toMatch(new RegExp(`^${id}\\.[A-Za-z0-9_-]{43}$`));
  await served.close();

  await fx.redis.resetStats();
  const forged = `${id}.${'x'.repeat(43)}`;
  const after = testManager(redisStore({ redis: fx.client }), { secrets: [newSecret, oldSecret] });
  const rotated = await serveStandalone(router, after.sessions.createContext);
  try {
    expect((await call(rotated.url, 'peek', `sid=${forged}`)).body.result.data).toBeNull();
    expect((await call(rotated.url, 'peek', `sid=${id}`)).body.result.data).toBeNull();
    expect(await sessionCommands(fx.redis)).toEqual({});

    const resumed = await call(rotated.url, 'read', `sid=${signed}`);
    expect(resumed.body.result.data).toMatchObject({ id, counter: 1 });
    expect(resumed.setCookies[0]).toMatch(new RegExp(`^sid=${id}\\.[A-Za-z0-9_-]{43};`));
    expect(resumed.setCookies[0]).not.toContain(signed);
  } finally {
    await rotated.close();
  }
});
