import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initTRPC } from '@trpc/server';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, browserTestFor, runBrowser } from './helpers/chromium.js';
import { z } from 'zod';
import { createSessionManager, redisStore } from '../src/index.js';
import { keepIdleConnectionsLonger, listen, type Served } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/**
 * The README's Client section, in a real browser: examples/browser-client.ts, bundled with esbuild, runs in a
 * page of one origin against the tRPC server on another, in Debian's Chromium. Each claim the section makes
 * about cookies and CORS is a test: what makes the session cookie round-trip, and how it fails without it.
 *
 * Host names: Chromium resolves `*.example.test` to 127.0.0.1 (`--host-resolver-rules`), so the page at
 * `app.example.test` and the API at `api.example.test` are two origins of one site, as `app.example.com` and
 * `api.example.com` are. The API at `localhost` is another site altogether (a secure context over plain HTTP,
 * so a `Secure` cookie is allowed there, as over HTTPS).
 */
const browserTest = browserTestFor('the cross-origin browser client tests');
/** The page's and the API's host names, all on this machine. */
const ARGS = [...CHROMIUM_ARGS, '--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP localhost 127.0.0.1'];
const root = resolve(import.meta.dirname, '..');
/** The API address examples/browser-client.ts names; the bundle reads the test server's from the page instead. */
const EXAMPLE_URL = "'https://api.example.com/trpc'";
/**
 * Another site's page that makes the visitor's browser post a form to `action`: a top-level
 * `multipart/form-data` POST, a "simple" request that needs no CORS preflight, which the browser sends with
 * the API's cookies where their SameSite allows it.
 */
const FORGED_FORM = `<!doctype html><title>win a prize</title>
<form method="post" enctype="multipart/form-data"><input name="prize" value="1"></form>
<script>const form = document.forms[0]; form.action = new URLSearchParams(location.search).get('action'); form.submit();</script>`;
const PAGE = `<!doctype html><title>shop</title>
<script>globalThis.API_URL = new URLSearchParams(location.search).get('api');</script>
<script type="module" src="/client.js"></script>`;

let redis: RedisServer;
let browser: Browser;
let page: Served & { port: number };
const closing: (() => Promise<void>)[] = [];

/**
 * The page's script: the example's `api` and `buyBeans`, and for comparison the same client without the
 * example's `fetch` line (`credentials` left at its default). The example's URL becomes `globalThis.API_URL`.
 */
async function bundle(): Promise<string> {
  const entry = `
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { api, buyBeans } from './examples/browser-client.ts';
const withoutCredentials = createTRPCClient({ links: [httpBatchLink({ url: globalThis.API_URL })] });
Object.assign(globalThis, { api, buyBeans, withoutCredentials });
`;
  const result = await build({
    stdin: { contents: entry, resolveDir: root, loader: 'ts' },
    bundle: true,
    format: 'esm',
    write: false,
    plugins: [
      {
        name: 'api-url',
        setup(on) {
          on.onLoad({ filter: /examples[\\/]browser-client\.ts$/ }, (args) => {
            const source = readFileSync(args.path, 'utf8');
            if (source.split(EXAMPLE_URL).length !== 2) throw new Error(`examples/browser-client.ts no longer names ${EXAMPLE_URL} once`);
            return { contents: source.replace(EXAMPLE_URL, 'globalThis.API_URL'), loader: 'ts' };
          });
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}

beforeAll(async () => {
  if (!runBrowser) return;
  redis = await startRedis();
  const script = await bundle();
  const server = createServer((req, res) => {
    if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url?.startsWith('/forge?')) res.writeHead(200, { 'content-type': 'text/html' }).end(FORGED_FORM);
    // The API's address comes in the page's query, and is in place before the client is made.
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  keepIdleConnectionsLonger(server);
  const served = await listen(server);
  page = { ...served, port: Number(new URL(served.url).port) };
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 60_000);

afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await redis?.stop(true);
});

const PAGE_ORIGIN = () => `http://app.example.test:${page.port}`;

interface ApiOptions {
  /** `Access-Control-Allow-Origin`: the page's exact origin unless given. */
  allowOrigin?: string;
  allowCredentials?: boolean;
  /** `Access-Control-Allow-Headers` on the preflight. */
  allowHeaders?: string | undefined;
  sameSite?: 'lax' | 'none';
  /** `trustedOrigins`: the page's origin unless given. */
  trustedOrigins?: string[];
}

/** The Quick start's cart procedures over a real Redis, with the CORS headers the README names (or fewer). */
async function startApi(options: ApiOptions = {}): Promise<number> {
  const { allowOrigin = PAGE_ORIGIN(), allowCredentials = true, sameSite = 'lax', trustedOrigins = [PAGE_ORIGIN()] } = options;
  const allowHeaders = 'allowHeaders' in options ? options.allowHeaders : 'content-type';
  const item = z.object({ productId: z.string(), quantity: z.number().int().positive() });
  const sessions = createSessionManager({
    schema: z.object({ cart: z.array(item).default([]) }),
    store: redisStore({ redis: redis.client }),
    cookie: { name: 'sid', sameSite },
    trustedOrigins,
  });
  const createContext = (opts: CreateHTTPContextOptions) => sessions.createContext(opts);
  const t = initTRPC.context<typeof createContext>().create();
  const router = t.router({
    cart: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.data.get('cart') ?? []),
    addToCart: t.procedure.input(item).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put('cart', [...session.data.get('cart'), input]);
      return session.data.get('cart');
    }),
    // A mutation without input: tRPC runs it for a multipart/form-data POST, which a form on any page can send.
    addBeans: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('cart', [...session.data.get('cart'), { productId: 'beans', quantity: 1 }]);
      return session.data.get('cart');
    }),
  });
  const server = createHTTPServer({
    router,
    createContext,
    basePath: '/trpc/',
    middleware: (req, res, next) => {
      res.setHeader('access-control-allow-origin', allowOrigin);
      if (allowCredentials) res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'origin');
      if (req.method === 'OPTIONS') {
        if (allowHeaders !== undefined) res.setHeader('access-control-allow-headers', allowHeaders);
        res.writeHead(204).end();
        return;
      }
      next();
    },
  }) as Server;
  keepIdleConnectionsLonger(server);
  const served = await listen(server);
  closing.push(async () => {
    await served.close();
    await sessions.close();
  });
  return Number(new URL(served.url).port);
}

/**
 * The shop's page open in a fresh browser profile, its client pointed at `apiUrl`. Debian's Chromium blocks
 * third-party cookies by default (each refused with the reason `UserPreferences`); `allowThirdPartyCookies`
 * opens a profile whose settings allow them.
 */
async function openPage(apiUrl: string, { allowThirdPartyCookies = false } = {}): Promise<Page> {
  let context: BrowserContext;
  if (allowThirdPartyCookies) {
    const profile = mkdtempSync(join(tmpdir(), 'trpc-session-chromium-'));
    // Chromium's setting "Allow third-party cookies" (chrome://settings/cookies), as a user would choose it.
    mkdirSync(join(profile, 'Default'));
    writeFileSync(join(profile, 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS });
    closing.push(async () => rmSync(profile, { recursive: true, force: true }));
  } else context = await browser.newContext();
  closing.push(() => context.close());
  const tab = await context.newPage();
  tab.setDefaultTimeout(10_000);
  const errors: string[] = [];
  tab.on('pageerror', (error) => errors.push(error.message));
  await tab.goto(`${PAGE_ORIGIN()}/?${new URLSearchParams({ api: apiUrl })}`);
  await tab.waitForFunction(() => 'buyBeans' in globalThis).catch((error: Error) => {
    throw new Error(`the page's script did not run: ${errors.join('; ') || error.message}`);
  });
  return tab;
}

type Cart = { productId: string; quantity: number }[];
declare const buyBeans: () => Promise<Cart>;
declare const api: { cart: { query(): Promise<Cart> } };
declare const withoutCredentials: { addToCart: { mutate(input: Cart[number]): Promise<Cart> }; cart: { query(): Promise<Cart> } };

/** buyBeans() twice: the carts each call read back, or the error it failed with. */
const buyTwice = (tab: Page) =>
  tab.evaluate(async () => {
    const outcome = async () => buyBeans().then((cart) => cart.length, (error: Error) => `${error.name}: ${error.message}`);
    return [await outcome(), await outcome()];
  });

describe('a page on app.example.test calling the API on api.example.test (another origin, the same site)', () => {
  browserTest('with credentials: "include" and the CORS headers, the session cookie round-trips (SameSite=Lax, not Secure)', async () => {
    const port = await startApi();
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual([1, 2]);
    const cookies = await tab.context().cookies(`http://api.example.test:${port}`);
    expect(cookies.map(({ name, sameSite, secure, httpOnly }) => ({ name, sameSite, secure, httpOnly }))).toEqual([
      { name: 'sid', sameSite: 'Lax', secure: false, httpOnly: true },
    ]);
  });

  browserTest('without credentials: "include" the browser keeps no cookie: each call is a stranger', async () => {
    const port = await startApi();
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    const carts = await tab.evaluate(async () => {
      await withoutCredentials.addToCart.mutate({ productId: 'beans', quantity: 1 });
      await withoutCredentials.addToCart.mutate({ productId: 'beans', quantity: 1 });
      return (await withoutCredentials.cart.query()).length;
    });
    expect(carts).toBe(0);
    expect(await tab.context().cookies()).toEqual([]);
  });

  browserTest('without Access-Control-Allow-Credentials: true, every call fails with "Failed to fetch"', async () => {
    const port = await startApi({ allowCredentials: false });
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual(['TRPCClientError: Failed to fetch', 'TRPCClientError: Failed to fetch']);
  });

  browserTest('with Access-Control-Allow-Origin: *, every call fails with "Failed to fetch"', async () => {
    const port = await startApi({ allowOrigin: '*' });
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual(['TRPCClientError: Failed to fetch', 'TRPCClientError: Failed to fetch']);
  });

  browserTest('without Access-Control-Allow-Headers: content-type on the preflight, mutations fail; queries (GET) pass', async () => {
    const port = await startApi({ allowHeaders: undefined });
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual(['TRPCClientError: Failed to fetch', 'TRPCClientError: Failed to fetch']);
    expect(await tab.evaluate(() => api.cart.query())).toEqual([]);
  });
});

describe('a page on app.example.test calling the API on localhost (another site)', () => {
  browserTest('with the default SameSite=Lax the browser refuses the cookie: the next call has no session', async () => {
    const port = await startApi();
    const tab = await openPage(`http://localhost:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual([0, 0]);
    expect(await tab.context().cookies()).toEqual([]);
  });

  browserTest("with cookie: { sameSite: 'none' } (always Secure), where third-party cookies are allowed, the session cookie round-trips", async () => {
    const port = await startApi({ sameSite: 'none' });
    const tab = await openPage(`http://localhost:${port}/trpc`, { allowThirdPartyCookies: true });
    expect(await buyTwice(tab)).toEqual([1, 2]);
    const cookies = await tab.context().cookies(`http://localhost:${port}`);
    expect(cookies.map(({ name, sameSite, secure }) => ({ name, sameSite, secure }))).toEqual([{ name: 'sid', sameSite: 'None', secure: true }]);
  });

  browserTest("with cookie: { sameSite: 'none' }, where the browser blocks third-party cookies (this Chromium's default), the cookie is dropped", async () => {
    const port = await startApi({ sameSite: 'none' });
    const tab = await openPage(`http://localhost:${port}/trpc`);
    expect(await buyTwice(tab)).toEqual([0, 0]);
    expect(await tab.context().cookies()).toEqual([]);
  });
});

/**
 * Cross-site request forgery: the visitor has a session with one item in its cart (added by the shop's own
 * page, a trusted origin), then opens a page on `evil.example.test` that posts a form to the API. The browser
 * sends the session cookie with it; the API refuses the change with FORBIDDEN and the cart keeps one item,
 * while a plain read from that page (a top-level GET) still answers.
 */
async function forge(tab: Page, apiOrigin: string) {
  const forged = await tab.context().newPage();
  const posted = forged.waitForResponse((response) => response.url() === `${apiOrigin}/trpc/addBeans`);
  await forged.goto(`http://evil.example.test:${page.port}/forge?${new URLSearchParams({ action: `${apiOrigin}/trpc/addBeans` })}`);
  const response = await posted;
  const sentCookie = (await response.request().allHeaders())['cookie'] ?? '';
  const outcome = { status: response.status(), code: ((await response.json()) as { error?: { data?: { code?: string } } }).error?.data?.code, sentCookie: sentCookie.includes('sid=') };
  const read = await forged.goto(`${apiOrigin}/trpc/cart`);
  return { ...outcome, readStatus: read?.status(), cart: (await tab.evaluate(() => api.cart.query())).length };
}

describe('a form on another origin posting to the API with the session cookie (cross-site request forgery)', () => {
  browserTest("SameSite=None (the API on another site): the browser sends the cookie, the change is refused with FORBIDDEN, reads still answer", async () => {
    const port = await startApi({ sameSite: 'none' });
    const tab = await openPage(`http://localhost:${port}/trpc`, { allowThirdPartyCookies: true });
    expect(await tab.evaluate(async () => (await buyBeans()).length)).toBe(1);
    expect(await forge(tab, `http://localhost:${port}`)).toEqual({ status: 403, code: 'FORBIDDEN', sentCookie: true, readStatus: 200, cart: 1 });
  });

  browserTest('SameSite=Lax, a page on a sibling subdomain (the same site, another origin): the change is refused with FORBIDDEN', async () => {
    const port = await startApi();
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    expect(await tab.evaluate(async () => (await buyBeans()).length)).toBe(1);
    expect(await forge(tab, `http://api.example.test:${port}`)).toEqual({ status: 403, code: 'FORBIDDEN', sentCookie: true, readStatus: 200, cart: 1 });
  });

  browserTest("the README's client on an origin not in trustedOrigins may read the session but not change it", async () => {
    const port = await startApi({ trustedOrigins: [] });
    const tab = await openPage(`http://api.example.test:${port}/trpc`);
    const outcome = await tab.evaluate(async () => {
      try {
        await buyBeans();
        return 'changed';
      } catch (error) {
        return (error as { data?: { code?: string } }).data?.code;
      }
    });
    expect(outcome).toBe('FORBIDDEN');
    expect(await tab.evaluate(() => api.cart.query())).toEqual([]);
  });
});
