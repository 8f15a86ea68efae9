import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, browserTestFor, runBrowser } from './helpers/chromium.js';
import { installPackedLibrary, ROOT } from './helpers/packed-library.js';
import { next, startNext, type NextServer } from './helpers/next-app.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import { startTlsProxy } from './helpers/tls-proxy.js';

/**
 * examples/next, the Next.js app the README shows, as its users run it: `next build` (once per test run) and
 * `next start`, over the packed library and a real redis-server, driven in Debian's Chromium.
 */

const APP = join(ROOT, 'examples', 'next');
const browserTest = browserTestFor('the Next.js browser tests');
const COOKIE = 'basket_sid';

let redis: RedisServer;
let inspect: Redis;
let server: NextServer | undefined;
let url: string;
let browser: Browser;
/** What `next start` printed; checked for errors after each test. */
let serverOutput: string[] = [];
let problems: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!runBrowser) return;
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; install Debian's package: apt-get install chromium`);
  redis = await startRedis();
  inspect = redis.client({ connectionName: 'inspect' });
  await installPackedLibrary(APP);
  const started = performance.now();
  await next(APP, ['build']);
  console.log(`next build of examples/next took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  server = await startNext(APP, redis.url);
  ({ url, output: serverOutput } = server);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 600_000);

afterEach(async () => {
  if (!runBrowser) return;
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  const seen = problems;
  problems = [];
  expect(seen, 'console errors and page errors').toEqual([]);
  expect(serverOutput.splice(0).filter((line) => /error/i.test(line)), "next start's errors").toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  inspect?.disconnect();
  await redis?.stop(true);
});

async function open(at = url): Promise<{ context: BrowserContext; page: Page }> {
  // The TLS proxy's certificate is self-signed.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  contexts.push(context);
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  // Chromium's own console line for a failed response names no URL: responses are checked below instead.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico') problems.push(`response: ${response.status()} ${response.url()}`);
  });
  // net::ERR_ABORTED is the router dropping a request it no longer needs; anything else is a broken response.
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request: ${request.url()} ${request.failure()?.errorText}`);
  });
  await page.goto(at);
  return { context, page };
}

async function textIs(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).waitFor();
}

const quantity = (page: Page, productId: string) => page.getByTestId(`line-${productId}`).getByTestId('quantity');
const sessionCookie = async (context: BrowserContext) => (await context.cookies()).find((cookie) => cookie.name === COOKIE);
const add = (page: Page, productId: string) => page.getByRole('button', { name: `Add ${productId}` }).click();

browserTest('a server action starts the session: an HttpOnly, SameSite=Lax cookie, and the basket survives reloads', async () => {
  const { context, page } = await open();
  await textIs(page.getByTestId('user'), 'Guest');
  await textIs(page.getByTestId('ref'), 'none');
  expect(await sessionCookie(context), 'rendering the page creates no session').toBeUndefined();

  await add(page, 'beans');
  await textIs(quantity(page, 'beans'), '1');
  await add(page, 'beans');
  await textIs(quantity(page, 'beans'), '2');
  const cookie = await sessionCookie(context);
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', secure: false });
  expect(cookie!.expires - Date.now() / 1000).toBeGreaterThan(86_000);
  expect(await inspect.exists(`session:${cookie!.value}`)).toBe(1);

  await page.reload();
  await textIs(quantity(page, 'beans'), '2');
});

browserTest('a mutation over httpBatchStreamLink, with `after`, is what the server component renders next', async () => {
  const { context, page } = await open();
  await add(page, 'mug');
  await textIs(quantity(page, 'mug'), '1');

  await page.getByRole('button', { name: 'One more mug' }).click();
  await textIs(quantity(page, 'mug'), '2');
  await page.getByRole('button', { name: 'One more mug' }).click();
  await textIs(quantity(page, 'mug'), '3');
  await page.reload();
  await textIs(quantity(page, 'mug'), '3');
  // A query over the stream link reads the same session.
  await page.getByRole('button', { name: 'Load from the API' }).click();
  await textIs(page.getByTestId('api-basket'), 'mug×3');
  expect((await sessionCookie(context))?.value).toBeDefined();
});

browserTest("a server action's change is visible to the next tRPC call, and to the Pages Router API route", async () => {
  const { context, page } = await open();
  await add(page, 'grinder');
  await textIs(quantity(page, 'grinder'), '1');
  await page.getByRole('button', { name: 'Load from the API' }).click();
  await textIs(page.getByTestId('api-basket'), 'grinder×1');

  await add(page, 'beans');
  await textIs(quantity(page, 'beans'), '1');
  await page.getByRole('button', { name: 'Load from the API' }).click();
  await textIs(page.getByTestId('api-basket'), 'grinder×1, beans×1');

  // pages/api/pages-trpc/[trpc].ts, with the browser's cookies.
  const response = await context.request.get(`${url}/api/pages-trpc/basket`);
  expect(response.status()).toBe(200);
  const { result } = (await response.json()) as { result: { data: { json: { items: unknown[] } } } };
  expect(result.data.json.items).toEqual([
    { productId: 'grinder', quantity: 1 },
    { productId: 'beans', quantity: 1 },
  ]);
});

browserTest('logging in through a server action regenerates the session and keeps the basket; logging out ends it', async () => {
  const { context, page } = await open();
  await add(page, 'beans');
  await textIs(quantity(page, 'beans'), '1');
  const guest = (await sessionCookie(context))!.value;
  const guestRef = await page.getByTestId('ref').textContent();

  await page.getByLabel('Name').fill('Ada');
  await page.getByRole('button', { name: 'Log in' }).click();
  await textIs(page.getByTestId('user'), 'Signed in as Ada');
  const user = (await sessionCookie(context))!.value;
  expect(user).not.toBe(guest);
  expect(await page.getByTestId('ref').textContent()).not.toBe(guestRef);
  expect(await inspect.type(`session:${guest}`), 'no record at the old ID, only the moved mark').toBe('string');
  expect(await inspect.exists(`session:${user}`)).toBe(1);
  await textIs(quantity(page, 'beans'), '1');

  await page.getByRole('button', { name: 'One more beans' }).click();
  await textIs(quantity(page, 'beans'), '2');

  await page.getByRole('button', { name: 'Log out' }).click();
  await textIs(page.getByTestId('user'), 'Guest');
  await textIs(page.getByTestId('ref'), 'none');
  expect(await sessionCookie(context)).toBeUndefined();
  expect(await inspect.get(`session:${user}`)).toMatch(/^trpc-session:revoked\n/); // no record: the logout's mark
  expect(await page.getByTestId('basket').getByRole('listitem').count()).toBe(0);
});

browserTest('the route handler, the page and the Pages Router API route share one manager: one Redis connection', async () => {
  const { context, page } = await open();
  await add(page, 'mug');
  await textIs(quantity(page, 'mug'), '1');
  await page.getByRole('button', { name: 'Load from the API' }).click();
  await textIs(page.getByTestId('api-basket'), 'mug×1');
  expect((await context.request.get(`${url}/api/pages-trpc/basket`)).status()).toBe(200);

  const clients = (await inspect.client('LIST')) as string;
  const app = clients.split('\n').filter((line) => line.includes(' cmd=') && !line.includes(' name=inspect '));
  expect(app).toHaveLength(1);
});

/** A tRPC call over the stream link's protocol (`trpc-accept: application/jsonl`), as `httpBatchStreamLink` makes it. */
function streamedAdd(context: BrowserContext, productId: string) {
  return context.request.post(`${url}/api/trpc/add?batch=1`, {
    headers: { 'content-type': 'application/json', 'trpc-accept': 'application/jsonl' },
    data: { 0: { json: productId } },
  });
}

// Next.js bundles the library into each App Router route: the manager kept on globalThis was made by the
// copy of the route first requested (the page, here). test/next-external.e2e.test.ts has the configuration
// where every session error is of another TRPCError class than the router's.
browserTest("a session error keeps its code through a route handler that shares another route's manager", async () => {
  const { context } = await open();
  const response = await streamedAdd(context, 'beans');
  expect(response.status()).toBe(200);
  // The stream cannot carry a new cookie: start() fails with SessionUnavailableError, PRECONDITION_FAILED.
  expect(await response.text()).toContain('"code":"PRECONDITION_FAILED"');
});

browserTest('behind a TLS-terminating proxy, the cookie is Secure whether a server action, a route handler or a Pages Router route sets it', async () => {
  const proxy = await startTlsProxy(url);
  try {
    const { context, page } = await open(proxy.url);
    await add(page, 'beans');
    await textIs(quantity(page, 'beans'), '1');
    expect(await sessionCookie(context), "the server action's cookie").toMatchObject({ secure: true, httpOnly: true });

    await page.getByLabel('Name').fill('Ada');
    await page.getByRole('button', { name: 'Log in' }).click();
    await textIs(page.getByTestId('user'), 'Signed in as Ada');
    const user = await sessionCookie(context);
    expect(user, "the login action's cookie").toMatchObject({ secure: true });
    await page.reload();
    await textIs(page.getByTestId('user'), 'Signed in as Ada');
    await textIs(quantity(page, 'beans'), '1');

    // The route handler, over a batch that is not streamed, and the Pages Router API route set the cookie when
    // they start a session.
    for (const path of ['/api/trpc/add?batch=1', '/api/pages-trpc/add?batch=1']) {
      await context.clearCookies();
      const response = await context.request.post(`${proxy.url}${path}`, {
        headers: { 'content-type': 'application/json' },
        data: { 0: { json: 'mug' } },
      });
      expect(response.status(), path).toBe(200);
      const set = response.headersArray().filter(({ name }) => name.toLowerCase() === 'set-cookie').map(({ value }) => value);
      expect(set, path).toEqual([expect.stringMatching(new RegExp(`^${COOKIE}=.*; Secure`))]);
    }
  } finally {
    await proxy.close();
  }
});

/** The lines `next start` printed with the library's prefix since the last call, taken out of what afterEach checks. */
const libraryLines: string[] = [];
function takeLibraryLines(): string[] {
  libraryLines.push(...serverOutput.filter((line) => line.includes('[trpc-session]')));
  const rest = serverOutput.filter((line) => !line.includes('[trpc-session]') && !/⨯|Error: Session store|^\s+at /.test(line));
  serverOutput.splice(0, serverOutput.length, ...rest);
  return libraryLines;
}

// Last: it stops Redis, which comes back empty.
browserTest('during a Redis outage every route answers with the session error, and the log names its class, unminified', async () => {
  const { context, page } = await open();
  await add(page, 'grinder');
  await textIs(quantity(page, 'grinder'), '1');
  serverOutput.length = 0;

  // The inspecting client reconnects by itself; its failed attempts are not this test's subject.
  const quiet = () => undefined;
  inspect.on('error', quiet);
  await redis.stop();
  try {
    for (const path of ['/api/trpc/basket', '/api/pages-trpc/basket']) {
      const response = await context.request.get(`${url}${path}`);
      expect(response.status(), path).toBe(500);
      const { error } = (await response.json()) as { error: { json: { message: string; data: { code: string } } } };
      expect(error.json.data.code, path).toBe('INTERNAL_SERVER_ERROR');
      expect(error.json.message, path).toBe('Session store unavailable');
    }
    await expect.poll(takeLibraryLines).toEqual([expect.stringMatching(/^\[trpc-session\] SessionStoreUnavailableError: Session store unavailable: /)]);
    libraryLines.length = 0;
  } finally {
    await redis.start();
    inspect.off('error', quiet);
  }
  await expect(page.reload()).resolves.toBeDefined();
  await textIs(page.getByTestId('user'), 'Guest');
  await expect.poll(takeLibraryLines).toEqual([expect.stringMatching(/^\[trpc-session\] SessionStoreRecoveredError: Session store available again /)]);
  problems = [];
});
