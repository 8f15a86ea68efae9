import { expect, test } from 'vitest';
import { readCookie, resolveCookieConfig, serializeCookie, serializeExpiredCookie } from '../src/cookie.js';

test('defaults: sid, one day, Path=/, Lax, HttpOnly, Secure only over HTTPS', () => {
  const config = resolveCookieConfig();
  expect(config).toMatchObject({ name: 'sid', lifespanSeconds: 86_400, path: '/', sameSite: 'lax', httpOnly: true, secure: 'auto' });
  expect(serializeCookie(config, 'v', 10, false)).toBe('sid=v; Max-Age=10; Path=/; HttpOnly; SameSite=Lax');
  expect(serializeCookie(config, 'v', 10, true)).toBe('sid=v; Max-Age=10; Path=/; HttpOnly; Secure; SameSite=Lax');
});

test('a __Host- cookie is always Secure, and refused with a Domain, another Path, or secure: false', () => {
  const config = resolveCookieConfig({ name: '__Host-sid' });
  expect(serializeCookie(config, 'v', 10, false)).toContain('; Secure');
  expect(() => resolveCookieConfig({ name: '__Host-sid', domain: 'example.com' })).toThrow(/__Host- cookie must have Path=\/ and no Domain/);
  expect(() => resolveCookieConfig({ name: '__Host-sid', path: '/app' })).toThrow(/__Host-/);
  expect(() => resolveCookieConfig({ name: '__Host-sid', secure: false })).toThrow(/must be Secure/);
  expect(() => resolveCookieConfig({ name: '__Secure-sid', secure: false })).toThrow(/must be Secure/);
});

test('invalid options fail at start-up with a clear message', () => {
  expect(() => resolveCookieConfig({ name: 'bad name' })).toThrow(/not a valid cookie name/);
  expect(() => resolveCookieConfig({ lifespan: 0 })).toThrow(/lifespan/);
  expect(() => resolveCookieConfig({ lifespan: 1.5 })).toThrow(/lifespan/);
  expect(() => resolveCookieConfig({ sameSite: 'none', secure: false })).toThrow(/SameSite=None requires Secure/);
});

test('an expired cookie clears the value with Max-Age=0 and an Expires in the past', () => {
  const header = serializeExpiredCookie(resolveCookieConfig({ name: 'basket' }), false);
  expect(header).toMatch(/^basket=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
});

test('reads the named cookie from a Cookie header', () => {
  expect(readCookie(undefined, 'sid')).toBeUndefined();
  expect(readCookie('a=1; sid=xyz; b=2', 'sid')).toBe('xyz');
  expect(readCookie('a=1', 'sid')).toBeUndefined();
});
