import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSessionManager, memoryStore, redisStore, type SessionStore } from '../../src/index.js';
import { schema } from '../helpers/app.js';
import { handleFor, requestFor } from '../helpers/request.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures, scaled } from './support/figures.js';
import { hostileCookieOptions } from './support/hostile-options.js';

const CASES = scaled(3_000, 30_000);

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

/** A `Set-Cookie` value split into its name, value and lower-cased attributes, each attribute counted. */
function parseSetCookie(header: string) {
  const [pair, ...parts] = header.split(';').map((part) => part.trim());
  const attributes = new Map<string, string[]>();
  for (const part of parts) {
    const name = part.split('=')[0]!.toLowerCase();
    attributes.set(name, [...(attributes.get(name) ?? []), part.slice(name.length + 1)]);
  }
  return { name: pair!.slice(0, pair!.indexOf('=')), attributes };
}

const lower = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value);

test(`${CASES} generated cookie options: each is refused at start-up with a TypeError naming it, or every request works with exactly those attributes`, async () => {
  const figures = { cases: 0, refused: 0, accepted: 0, 'requests answered': 0 };
  const refusedBy = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(hostileCookieOptions, fc.boolean(), async (cookie, https) => {
      figures.cases++;
      const store = memoryStore();
      let sessions: ReturnType<typeof createSessionManager<typeof schema>>;
      try {
        // A trusted origin, as sameSite 'none' requires one.
        sessions = createSessionManager({ schema, store, cookie: cookie as never, trustedOrigins: ['https://app.example.com'], onError: () => undefined });
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        const named = /cookie\.(\w+)/.exec((error as Error).message)?.[1];
        // The option named is one that was given (the prefix and SameSite rules name the attribute they forbid).
        expect(named === undefined ? undefined : Object.hasOwn(cookie, named) || named === 'secure' ? 'given' : named).toBe('given');
        refusedBy.set(named!, (refusedBy.get(named!) ?? 0) + 1);
        figures.refused++;
        return;
      }
      figures.accepted++;
      const call = requestFor(undefined, https);
      const session = await handleFor(sessions, call.transport).start();
      await call.end();
      expect(call.cookies).toHaveLength(1);
      const header = call.cookies[0]!;
      expect(() => validateHeaderValue('set-cookie', header)).not.toThrow();
      const parsed = parseSetCookie(header);
      const name = (cookie.name as string | undefined) ?? 'sid';
      expect(parsed.name).toBe(name);
      // Every attribute once, and the given ones exactly as given: nothing injected.
      for (const values of parsed.attributes.values()) expect(values).toHaveLength(1);
      expect(parsed.attributes.get('path')).toEqual([cookie.path ?? '/']);
      expect(parsed.attributes.get('domain')).toEqual(cookie.domain === undefined ? undefined : [cookie.domain]);
      const secure = parsed.attributes.has('secure');
      const sameSite = lower(parsed.attributes.get('samesite')?.[0]);
      expect(sameSite).toBe(lower(cookie.sameSite ?? 'lax'));
      if (cookie.priority !== undefined) expect(lower(parsed.attributes.get('priority')?.[0])).toBe(lower(cookie.priority));
      // The rules browsers hold a cookie to, whatever the letter case.
      if (/^__(host|secure)-/i.test(name)) expect(secure).toBe(true);
      if (/^__host-/i.test(name)) expect([parsed.attributes.get('path'), parsed.attributes.has('domain')]).toEqual([['/'], false]);
      if (sameSite === 'none' || parsed.attributes.has('partitioned')) expect(secure).toBe(true);
      if (cookie.secure === false) expect(secure).toBe(false);
      if (cookie.secure === true) expect(secure).toBe(true);
      expect(session.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      figures['requests answered']++;
    }),
    { numRuns: CASES, seed: 60_606 },
  );
  expect(figures.refused).toBeGreaterThan(0);
  expect(figures.accepted).toBeGreaterThan(0);
  logFigures('hostile options', { ...figures, 'refused by': [...refusedBy].map(([option, count]) => `${option}=${count}`).join(' '), failures: 0 });
}, 300_000);

test('the options of the issue are refused at start-up, each with a TypeError naming it', async () => {
  const store = memoryStore();
  const refusals: [Record<string, unknown>, string][] = [
    [{ domain: 'example.com; SameSite=None' }, 'cookie.domain'],
    [{ path: '/app\r\nX-Injected: 1' }, 'cookie.path'],
    [{ path: 'app' }, 'cookie.path'],
    [{ sameSite: 'bogus' }, 'cookie.sameSite'],
    [{ priority: 'urgent' }, 'cookie.priority'],
    [{ sameSite: 'None', secure: false }, 'cookie.sameSite'],
    [{ name: '__HOST-sid', secure: false }, 'cookie.secure'],
    [{ name: '__host-sid', domain: 'example.test' }, 'cookie.domain'],
    [{ name: '__host-sid', path: '/app' }, 'cookie.path'],
    [{ name: '__secure-sid', secure: false }, 'cookie.secure'],
    [{ httpOnly: 'false' }, 'cookie.httpOnly'],
    [{ secure: 'yes' }, 'cookie.secure'],
  ];
  for (const [cookie, option] of refusals) {
    expect(() => createSessionManager({ schema, store, cookie: cookie as never }), JSON.stringify(cookie)).toThrow(TypeError);
    expect(() => createSessionManager({ schema, store, cookie: cookie as never }), JSON.stringify(cookie)).toThrow(option);
  }
  // Letter case as browsers read it: `'None'` is SameSite=None, so it needs Secure, which 'auto' then always sets.
  const call = requestFor(undefined, false);
  const sessions = createSessionManager({ schema, store, cookie: { sameSite: 'None' as never, priority: 'High' as never }, trustedOrigins: ['https://app.example.com'] });
  await handleFor(sessions, call.transport).start();
  expect(call.cookies[0]).toMatch(/; Secure; .*SameSite=None/);
});

test('a missing store, a Redis client given as the store, an empty key prefix, a bad trustedOrigins or sameSite none without one fails at start-up with a TypeError naming it', async () => {
  const client = redis.client();
  try {
    const cases: [() => unknown, string][] = [
      [() => createSessionManager({ schema } as never), 'store'],
      [() => createSessionManager({ schema, store: undefined as unknown as SessionStore }), 'store'],
      [() => createSessionManager({ schema, store: client as unknown as SessionStore }), 'redisStore({ redis: client })'],
      [() => createSessionManager({ schema, store: {} as SessionStore }), 'store'],
      [() => createSessionManager({ schema, store: { load: () => undefined } as unknown as SessionStore }), 'lacks touch, write'],
      [() => redisStore({ redis: client, prefix: '' }), 'prefix'],
      [() => redisStore({ redis: client, prefix: 7 as unknown as string }), 'prefix'],
      [() => redisStore({ redis: client, commandTimeout: Number.POSITIVE_INFINITY }), 'commandTimeout'],
      [() => redisStore({ redis: client, commandTimeout: 0 }), 'commandTimeout'],
      [() => createSessionManager(undefined as never), 'options'],
      [() => createSessionManager({ schema, store: memoryStore(), secrets: 'a-secret-of-more-than-32-characters!' as never }), 'secrets'],
      [() => createSessionManager({ schema, store: memoryStore(), trustProxy: 'yes' as never }), 'trustProxy'],
      [() => createSessionManager({ schema, store: memoryStore(), schemaVersion: '2' as never }), 'schemaVersion'],
      [() => createSessionManager({ schema, store: memoryStore(), onError: 'log' as never }), 'onError'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSize: '1000' as never }), 'maxSize'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSessionsPerUser: '10' as never }), 'maxSessionsPerUser'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSessionsPerUser: 0 }), 'maxSessionsPerUser'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSessionsPerUser: 2.5 }), 'maxSessionsPerUser'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSessionsPerUser: 1001 }), 'maxSessionsPerUser'],
      [() => createSessionManager({ schema, store: memoryStore(), maxSessionsPerUser: Number.POSITIVE_INFINITY }), 'maxSessionsPerUser'],
      [() => createSessionManager({ schema, store: memoryStore(), healthTimeout: 0 }), 'healthTimeout'],
      [() => createSessionManager({ schema, store: memoryStore(), trustedOrigins: 'https://app.example.com' as never }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), trustedOrigins: ['https://app.example.com/'] }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), trustedOrigins: ['app.example.com'] }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), trustedOrigins: ['https://app.example.com/login'] }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), trustedOrigins: ['*'] }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), cookie: { sameSite: 'none' } }), 'trustedOrigins'],
      [() => createSessionManager({ schema, store: memoryStore(), cookie: { sameSite: 'none' }, trustedOrigins: [] }), 'trustedOrigins'],
    ];
    for (const [create, named] of cases) {
      expect(create).toThrow(TypeError);
      expect(create).toThrow(named);
    }
    // Nothing was sent to Redis by any of them.
    const stats = await client.info('commandstats');
    expect(stats).not.toMatch(/cmdstat_(hgetall|evalsha|eval|del)/);
  } finally {
    client.disconnect();
  }
});

test('`migrations` is checked at start-up: an object of functions keyed by the versions from 2 to schemaVersion', () => {
  const migrate = (fields: Record<string, unknown>) => fields;
  const refused: [unknown, number | undefined, string][] = [
    ['2: fields => fields', 2, 'must be an object of functions keyed by schema version'],
    [[migrate, migrate], 2, 'must be an object of functions'],
    [null, 2, 'must be an object of functions'],
    [migrate, 2, 'must be an object of functions'],
    [{ 2: 'rename cartItems' }, 2, '`migrations`[2] must be a function'],
    [{ 1: migrate }, 2, 'keyed "1"'],
    [{ 3: migrate }, 2, 'did you forget to raise schemaVersion?'],
    [{ 2: migrate }, undefined, 'from 2 to schemaVersion (1)'],
    [{ '2.5': migrate }, 3, 'keyed "2.5"'],
    [{ '02': migrate }, 3, 'keyed "02"'],
    [{ '-2': migrate }, 3, 'keyed "-2"'],
    [{ two: migrate }, 3, 'keyed "two"'],
  ];
  for (const [migrations, schemaVersion, message] of refused) {
    const create = () => createSessionManager({ schema, store: memoryStore(), schemaVersion, migrations: migrations as never });
    expect(create, JSON.stringify(migrations) ?? String(migrations)).toThrow(TypeError);
    expect(create).toThrow('`migrations`');
    expect(create).toThrow(message);
  }
  // Versions may be skipped: version 3 changed the schema without changing stored data.
  expect(() => createSessionManager({ schema, store: memoryStore(), schemaVersion: 4, migrations: { 2: migrate, 4: migrate } })).not.toThrow();
  expect(() => createSessionManager({ schema, store: memoryStore(), schemaVersion: 4, migrations: {} })).not.toThrow();
});
