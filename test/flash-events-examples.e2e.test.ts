import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createTRPCClient, httpLink } from '@trpc/client';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AppRouter as AuditRouter } from '../examples/audit-events.js';
import type { AppRouter as FlashRouter } from '../examples/flash.js';
import { sessionRef } from '../src/id.js';
import { eventually } from './helpers/fixture.js';
import { CookieJar } from './helpers/http.js';
import { freePort, startRedis, type RedisServer } from './helpers/redis-server.js';

/*
 * The README's "Flash messages" and "Audit events" examples, run as they are (tsx, with the package name
 * resolved to the sources by tsconfig's paths) against a throwaway redis-server, driven by the real tRPC client.
 */

const ROOT = resolve(import.meta.dirname, '..');
let redis: RedisServer;
const children: ChildProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await redis.stop(true);
});

/** Starts an example on a free loopback port; resolves once it answers HTTP, with the lines it prints. */
async function serve(file: string): Promise<{ url: string; lines: string[] }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, file)], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), REDIS_URL: redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    expect(child.exitCode, lines.join('\n')).toBeNull();
    await fetch(url);
  }, 20_000);
  return { url, lines };
}

test('examples/flash.ts: a notice after adding to the basket and after login, each shown once; a form error', async () => {
  const { url } = await serve('examples/flash.ts');
  const jar = new CookieJar();
  const api = createTRPCClient<FlashRouter>({ links: [httpLink({ url, fetch: jar.fetch })] });
  const inspect = redis.client();
  /** Waits until the session's record holds the flash value: the write lands just after the response. */
  const written = (name: string) =>
    eventually(async () => expect(await inspect.hexists(`session:${jar.cookies.get('sid')}`, `d:flash:${name}`)).toBe(1));
  await api.addToCart.mutate({ productId: 'beans', quantity: 2 });
  await written('notice');
  // Two tabs load the page after the redirect at once: one shows the notice.
  const [first, second] = await Promise.all([api.messages.query(), api.messages.query()]);
  expect([first.notice, second.notice].sort()).toEqual(['Added 2 × beans to your basket', null]);
  expect(await api.login.mutate({ name: ' ' })).toBe(false);
  await written('formError');
  expect(await api.messages.query()).toEqual({ notice: null, formError: { field: 'name', message: 'Tell us your name' } });
  expect(await api.login.mutate({ name: 'Ada' })).toBe(true);
  await written('notice');
  expect(await api.messages.query()).toEqual({ notice: 'Welcome back, Ada', formError: null });
  inspect.disconnect();
  expect(await api.messages.query()).toEqual({ notice: null, formError: null });
}, 60_000);

test('examples/audit-events.ts: one JSON line per event, by ref, with the user once bound, never an ID', async () => {
  const { url, lines } = await serve('examples/audit-events.ts');
  const jar = new CookieJar();
  const api = createTRPCClient<AuditRouter>({ links: [httpLink({ url, fetch: jar.fetch })] });
  expect(await api.visit.mutate()).toBe(1);
  const first = jar.cookies.get('sid')!;
  await eventually(() => expect(lines).toHaveLength(1));
  await api.login.mutate('ada');
  const second = jar.cookies.get('sid')!;
  const phone = new CookieJar();
  const onPhone = createTRPCClient<AuditRouter>({ links: [httpLink({ url, fetch: phone.fetch })] });
  await onPhone.login.mutate('ada');
  const third = phone.cookies.get('sid')!;
  expect(await api.logoutEverywhere.mutate()).toBe(2);
  await eventually(() => expect(lines).toHaveLength(5));
  const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const event of events) expect(Number.isNaN(Date.parse(event['at'] as string))).toBe(false);
  const withoutTimes = events.map(({ at: _at, ...event }) => event);
  expect(withoutTimes.slice(0, 3)).toEqual([
    { type: 'created', ref: sessionRef(first), userId: null },
    { type: 'regenerated', ref: sessionRef(second), previousRef: sessionRef(first), userId: null },
    { type: 'created', ref: sessionRef(third), userId: 'ada' },
  ]);
  // Revoked concurrently: in either order.
  expect(withoutTimes.slice(3).sort((a, b) => String(a['ref']).localeCompare(String(b['ref'])))).toEqual(
    [second, third].map((id) => ({ type: 'revoked', ref: sessionRef(id), userId: 'ada', reason: 'revokeUser' })).sort((a, b) => a.ref.localeCompare(b.ref)),
  );
  for (const id of [first, second, third]) expect(lines.join('\n')).not.toContain(id);
}, 60_000);
