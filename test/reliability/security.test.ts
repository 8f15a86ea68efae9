import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { encodeValue } from '../../src/codec.js';
import { httpSession } from '../../src/commit.js';
import { createSessionManager, memoryStore, redisStore, SessionGoneError, type SessionError } from '../../src/index.js';
import { runtimeOf } from '../../src/options.js';
import type { SessionTransport } from '../../src/transport.js';
import { router, schema, testManager, type TestManagerOptions, type TestRouter } from '../helpers/app.js';
import { eventually, redisFixture, sessionCommands, type Fixture } from '../helpers/fixture.js';
import { browser, serveStandalone, type Served } from '../helpers/http.js';
import { freePort } from '../helpers/redis-server.js';
import { signedValue } from './support/cookie-cases.js';
import { logFigures } from './support/figures.js';
import { get, send, type RawResponse } from './support/raw-http.js';

const OLD_SECRET = 'old-secret-0123456789-0123456789-abcdef';
const NEW_SECRET = 'new-secret-0123456789-0123456789-abcdef';
const FULL_ID = /[A-Za-z0-9_-]{32}/;

let fx: Fixture;
const opened: Served[] = [];
let checks = 0;
beforeAll(async () => {
  fx = await redisFixture();
  // Load the scripts, so command counts below are of EVALSHA only.
  const { client } = fx.browser();
  await client.increment.mutate();
  await client.read.query();
});
afterAll(async () => {
  await Promise.all(opened.map((served) => served.close()));
  await fx.close();
  logFigures('security', { 'checks passed': checks, failures: 0 });
});

/** Another server over the same Redis with other options: a deploy with new settings, or a rotated secret. */
async function serveWith(options: TestManagerOptions) {
  const { sessions, errors } = testManager(redisStore({ redis: fx.client }), options);
  const served = await serveStandalone(router, sessions.createContext);
  opened.push(served);
  return { url: served.url, errors };
}

/** The `Set-Cookie` for `name` in a raw response, as its value and its lower-cased attributes. */
function setCookie(response: RawResponse, name = 'sid') {
  const raw = (response.headers['set-cookie'] ?? []).find((header) => header.startsWith(`${name}=`));
  if (raw === undefined) return undefined;
  const [pair, ...parts] = raw.split(';').map((part) => part.trim());
  const attributes = new Map(parts.map((part) => [part.split('=')[0]!.toLowerCase(), part.split('=')[1] ?? ''] as const));
  return { value: pair!.slice(name.length + 1), attributes };
}

function data<T>(response: RawResponse): T {
  expect(response.status).toBe(200);
  checks++;
  return (JSON.parse(response.body) as { result: { data: T } }).result.data;
}

const read = (url: string, cookie?: string, headers: Record<string, string> = {}) =>
  get(`${url}/read`, cookie === undefined ? headers : { ...headers, cookie });
const peek = (url: string, cookie: string) => get(`${url}/peek`, { cookie });

/** Whether a request sent no session lookup to Redis. */
async function expectNoLookup(send: () => Promise<unknown>) {
  await fx.redis.resetStats();
  await send();
  expect((await sessionCommands(fx.redis))['hgetall']).toBeUndefined();
  checks++;
}

test('session fixation: an attacker-chosen well-formed ID is never used, and no record is made for it', async () => {
  const chosen = 'AttackerChosenSessionId_0123456';
  expect(chosen).toHaveLength(31);
  for (const id of [`${chosen}X`, 'a'.repeat(32), '0'.repeat(32)]) {
    const response = await read(fx.served.url, `sid=${id}`);
    const issued = data<{ id: string }>(response).id;
    expect(issued).not.toBe(id);
    expect(setCookie(response)?.value).toBe(issued);
    await eventually(async () => expect(await fx.inspect.exists(`session:${issued}`)).toBe(1));
    expect(await fx.inspect.exists(`session:${id}`)).toBe(0);
    checks += 3;
  }
});

test('regenerate() at login: the pre-login ID (planted by an attacker) stops working, the data moves', async () => {
  const attacker = fx.browser();
  const planted = (await attacker.client.read.query()).id;
  const victim = fx.browser();
  victim.jar.cookies.set('sid', planted);
  await victim.client.addToCart.mutate({ productId: 'p1', quantity: 2 });
  const loggedIn = await victim.client.login.mutate('alice');
  expect(loggedIn).not.toBe(planted);
  expect(victim.jar.cookies.get('sid')).toBe(loggedIn);
  // No record at the planted ID, only the moved mark (a string) for a few seconds.
  await eventually(async () => expect(await fx.inspect.type(`session:${planted}`)).toBe('string'));
  expect(await attacker.client.peek.query()).toBeNull();
  const after = await victim.client.peek.query();
  expect(after?.data.userId).toBe('alice');
  expect(after?.data.cart).toEqual([{ productId: 'p1', quantity: 2 }]);
  checks += 6;
});

test('a destroyed session is unusable: its cookie is expired, replaying it finds nothing', async () => {
  const user = fx.browser();
  await user.client.login.mutate('bob');
  const cookie = `sid=${user.jar.cookies.get('sid')}`;
  const id = user.jar.cookies.get('sid')!;
  expect(await user.client.logout.mutate()).toBe(true);
  expect(user.jar.cookies.has('sid')).toBe(false);
  const expired = user.jar.received.at(-1)!;
  expect(expired.maxAge).toBe(0);
  // No record: in its place, for 10 seconds, the revoked mark naming the logout (a resent removal answers by it).
  expect(await fx.inspect.get(`session:${id}`)).toMatch(/^trpc-session:revoked\n/);
  expect(data(await peek(fx.served.url, cookie))).toBeNull();
  expect(data<{ id: string }>(await read(fx.served.url, cookie)).id).not.toBe(id);
  checks += 4;

  // Within a request, the destroyed session refuses further changes instead of writing them.
  const ends: (() => Promise<unknown>)[] = [];
  const transport: SessionTransport = { cookieHeader: undefined, secure: false, cookieBlockedReason: null, setCookie: () => undefined, onEnd: (end) => ends.push(end) };
  const handle = httpSession<typeof schema>(runtimeOf(fx.sessions), transport);
  const session = await handle.start();
  session.data.put('userId', 'carol');
  await handle.persist();
  await handle.destroy();
  expect(() => session.data.put('userId', 'mallory')).toThrow(SessionGoneError);
  await Promise.all(ends.map((end) => end()));
  expect(await fx.inspect.type(`session:${session.id}`)).toBe('string'); // no record: the logout's revoked mark
  checks += 2;
});

test('signed cookies: tampering is rejected without a lookup; rotation re-signs; a removed secret is rejected', async () => {
  const old = await serveWith({ secrets: [OLD_SECRET] });
  // A session under the old secret, with some data.
  const created = await read(old.url);
  const value = setCookie(created)!.value;
  const id = data<{ id: string }>(created).id;
  expect(value).toBe(signedValue(id, OLD_SECRET));
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));

  const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  const other = data<{ id: string }>(await read(old.url)).id;
  const forgeries = [
    id, // unsigned
    flip(value, 3), // ID changed
    flip(value, 40), // signature changed
    `${id}.${signedValue(other, OLD_SECRET).split('.')[1]}`, // another session's signature
    signedValue(id, 'not-the-secret-0123456789-0123456789-abc'),
    `${value}.`,
  ];
  for (const forged of forgeries) {
    await expectNoLookup(async () => expect(data(await peek(old.url, `sid=${forged}`))).toBeNull());
  }

  // Rotation: the new secret signs, the old one still verifies, and the cookie is signed again.
  const rotated = await serveWith({ secrets: [NEW_SECRET, OLD_SECRET] });
  const resumed = await read(rotated.url, `sid=${value}`);
  expect(data<{ id: string }>(resumed).id).toBe(id);
  expect(setCookie(resumed)?.value).toBe(signedValue(id, NEW_SECRET));

  // The old secret removed: its cookies are forgeries now (no lookup); the re-signed cookie works.
  const renewed = await serveWith({ secrets: [NEW_SECRET] });
  await expectNoLookup(async () => expect(data(await peek(renewed.url, `sid=${value}`))).toBeNull());
  expect(data<{ id: string }>(await read(renewed.url, `sid=${signedValue(id, NEW_SECRET)}`)).id).toBe(id);
  checks += 4;
});

test('no full session ID and no session data in error messages, onError reports or the default log', async () => {
  const marker = 'SECRET-7c1f';
  const logged: string[] = [];
  const consoleError = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
  const reports: SessionError[] = [];
  const withDefaultLog = createSessionManager({ schema, store: redisStore({ redis: fx.client }), maxSize: 4096 });
  const collecting = createSessionManager({ schema, store: redisStore({ redis: fx.client }), maxSize: 4096, onError: (e) => reports.push(e) });
  const ids: string[] = [];
  const bodies: string[] = [];
  try {
    for (const sessions of [withDefaultLog, collecting]) {
      const served = await serveStandalone(router, sessions.createContext);
      opened.push(served);
      const user = browser<TestRouter>(served.url);
      await user.client.put.mutate({ key: 'note', value: `${marker} personal note` });
      const id = user.jar.cookies.get('sid')!;
      ids.push(id);
      const cookie = `sid=${id}`;
      // A stored field that is valid msgpack followed by stray bytes: its decode error must not quote it.
      await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
      await fx.inspect.hset(`session:${id}`, 'd:note', Buffer.concat([encodeValue(`${marker} stored`), Buffer.from([0xc0])]));
      await fx.inspect.hset(`session:${id}`, 'd:userId', Buffer.from(encodeValue(12345)));
      await fx.inspect.hset(`session:${id}`, 'd:counter', Buffer.from(encodeValue(`${marker} counter`)));
      expect((await peek(served.url, cookie)).status).toBe(200);
      // Errors a client sees: a schema violation, a session over maxSize.
      bodies.push((await get(`${served.url}/put?input=${encodeURIComponent(JSON.stringify({ key: 'counter', value: marker }))}`, { cookie })).body);
      const big = await fetch(`${served.url}/putAndPersist`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ note: `${marker}${'x'.repeat(5000)}` }) });
      expect(big.status).toBe(413);
      bodies.push(await big.text());
      // A record of the wrong type: reported as corrupt.
      const corruptId = 'C'.repeat(31) + String(ids.length);
      ids.push(corruptId);
      await fx.inspect.set(`session:${corruptId}`, marker);
      expect(data(await peek(served.url, `sid=${corruptId}`))).toBeNull();
    }
    // The store unreachable: the error the client gets.
    const nowhere = new Redis(await freePort(), '127.0.0.1', { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    nowhere.on('error', () => undefined); // expected: nothing listens there
    const down = testManager(redisStore({ redis: nowhere, commandTimeout: 200 }));
    const downServed = await serveStandalone(router, down.sessions.createContext);
    opened.push(downServed);
    const unavailable = await peek(downServed.url, `sid=${ids[0]}`);
    expect(unavailable.status).toBe(500);
    expect(JSON.parse(unavailable.body).error.message).toMatch(/^Session store unavailable/);
    bodies.push(unavailable.body);
    nowhere.disconnect();
  } finally {
    consoleError.mockRestore();
  }
  const messages = [...logged, ...reports.map((error) => `${error.name}: ${error.message}`)];
  const kinds = new Set([...logged.map((line) => line.split(':')[0]), ...reports.map((error) => error.name)]);
  expect(kinds.size).toBeGreaterThanOrEqual(3);
  for (const text of [...messages, ...bodies]) {
    expect(text).not.toContain(marker);
    for (const id of ids) expect(text).not.toContain(id);
    checks++;
  }
  for (const text of messages) expect(text).not.toMatch(FULL_ID);
  logFigures('security: log and error scan', { 'log lines and reports scanned': messages.length, 'error bodies scanned': bodies.length, 'IDs or data found': 0 });
});

test('cookie attributes: HttpOnly, SameSite and Secure as configured, X-Forwarded-Proto only with trustProxy', async () => {
  const https = { 'x-forwarded-proto': 'https' };
  const cases: { options: TestManagerOptions; headers?: Record<string, string>; expect: Record<string, string | undefined> }[] = [
    { options: {}, expect: { httponly: '', samesite: 'Lax', path: '/', secure: undefined, domain: undefined } },
    { options: {}, headers: https, expect: { secure: undefined } },
    { options: { trustProxy: true }, headers: https, expect: { secure: '' } },
    { options: { trustProxy: true }, headers: { 'x-forwarded-proto': 'http' }, expect: { secure: undefined } },
    { options: { trustProxy: true }, headers: { 'x-forwarded-proto': 'https, http' }, expect: { secure: '' } },
    { options: { cookie: { secure: true, sameSite: 'strict' } }, expect: { secure: '', samesite: 'Strict', httponly: '' } },
    { options: { cookie: { sameSite: 'none' }, trustedOrigins: ['https://app.example.test'] }, expect: { secure: '', samesite: 'None' } },
    { options: { cookie: { httpOnly: false, secure: false } }, headers: https, expect: { httponly: undefined, secure: undefined } },
    { options: { cookie: { domain: 'example.test', path: '/api' } }, expect: { domain: 'example.test', path: '/api' } },
  ];
  for (const { options, headers, expect: attributes } of cases) {
    const server = await serveWith(options);
    const cookie = setCookie(await read(server.url, undefined, headers ?? {}));
    expect(cookie, JSON.stringify(options)).toBeDefined();
    for (const [name, value] of Object.entries(attributes)) {
      expect(cookie!.attributes.get(name), `${JSON.stringify(options)} ${JSON.stringify(headers)} ${name}`).toBe(value);
      checks++;
    }
  }
});

test('a __Host- cookie: always Secure, Path=/, no Domain; misconfiguration fails at start-up', async () => {
  const name = '__Host-sid';
  const server = await serveWith({ cookie: { name } });
  const created = await read(server.url);
  const cookie = setCookie(created, name)!;
  expect(cookie.attributes.get('secure')).toBe('');
  expect(cookie.attributes.get('path')).toBe('/');
  expect(cookie.attributes.has('domain')).toBe(false);
  const id = data<{ id: string }>(created).id;
  expect(cookie.value).toBe(id);
  await eventually(async () => expect(await fx.inspect.exists(`session:${id}`)).toBe(1));
  expect(data<{ id: string }>(await read(server.url, `${name}=${id}`)).id).toBe(id);
  // The unprefixed name is another cookie, never read as the session.
  await expectNoLookup(async () => expect(data(await peek(server.url, `sid=${id}`))).toBeNull());
  const expired = setCookie(await send('POST', `${server.url}/logout`, { cookie: `${name}=${id}`, 'content-type': 'application/json' }), name)!;
  expect(expired.attributes.get('max-age')).toBe('0');
  expect(expired.attributes.get('secure')).toBe('');

  for (const cookieOptions of [{ name, domain: 'example.test' }, { name, path: '/app' }, { name, secure: false as const }]) {
    expect(() => createSessionManager({ schema, store: memoryStore(), cookie: cookieOptions })).toThrow(TypeError);
    checks++;
  }
  checks += 7;
});
