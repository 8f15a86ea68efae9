import fc from 'fast-check';

/** Characters that end or split a `Set-Cookie` attribute, or a header line, or that no header may carry. */
const BREAKERS = [';', ',', '=', ' ', '\t', '\r', '\n', '\r\n', '\0', '\x7f', '"', '\\', 'é', '\u2028', '\u{1F36A}'];

/** A string an attacker or a bad deploy might put in a cookie option: attribute injection, line breaks, case games. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.tuple(fc.string({ maxLength: 12 }), fc.constantFrom(...BREAKERS), fc.string({ maxLength: 12 })).map(([before, breaker, after]) => before + breaker + after),
  fc.constantFrom(
    '',
    'example.com; SameSite=None',
    'example.com\r\nSet-Cookie: evil=1',
    '/\r\nX-Injected: 1',
    '/app; Domain=evil.test',
    'app',
    '//evil.test',
    '/a b',
    '.example.com',
    'example..com',
    '-example.com',
    'localhost',
    'None',
    'NONE',
    'Lax',
    'bogus',
    'urgent',
    'High',
    'auto',
    'true',
    '__proto__',
    'constructor',
  ),
);

/** A cookie name, mostly one a prefix rule applies to in some letter case, sometimes hostile. */
export const hostileCookieName: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom('__Host-', '__host-', '__HOST-', '__Secure-', '__secure-', '__SECURE-', '__HoSt-', ''), fc.constantFrom('sid', 'x')).map(
    ([prefix, name]) => prefix + name,
  ),
  hostileString,
);

/** Mostly a valid value, so that a case often reaches a request; sometimes a hostile one. */
const mostly = <T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: hostile, weight: 1 });

/** Cookie options with some attributes given: valid values in any letter case, hostile strings, wrong types. */
export const hostileCookieOptions = fc.record(
  {
    name: mostly(fc.constantFrom('sid', '__Host-sid', '__host-sid', '__HOST-sid', '__Secure-sid', '__secure-sid', '__SeCuRe-x'), hostileCookieName),
    path: mostly(fc.constantFrom('/', '/app', '/a/b c', '/~x'), hostileString),
    domain: mostly(fc.constantFrom('example.test', '.example.test', 'a-b.example.test'), hostileString),
    sameSite: mostly(fc.constantFrom('lax', 'strict', 'none', 'None', 'STRICT', 'Lax'), fc.oneof(hostileString, fc.constant(true))),
    secure: mostly(fc.constantFrom(true, false, 'auto'), fc.constantFrom('yes', 1, null, 'AUTO')),
    httpOnly: mostly(fc.boolean(), fc.constantFrom('false', 0)),
    partitioned: mostly(fc.boolean(), fc.constantFrom('true', 1)),
    priority: mostly(fc.constantFrom('low', 'medium', 'high', 'HIGH', 'Low'), hostileString),
    lifespan: mostly(fc.constantFrom(1, 60, 86_400), fc.constantFrom(0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '60')),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<Record<string, unknown>>;
