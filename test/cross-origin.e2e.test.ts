import { createServer, type Server } from 'node:http';
import { createTRPCClient, createWSClient, httpLink, TRPCClientError, wsLink } from '@trpc/client';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { afterEach, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { createCallerContext } from '../src/adapters/caller.js';
import { memoryStore, SessionForbiddenError } from '../src/index.js';
import { router, testManager, type TestManagerOptions, type TestRouter } from './helpers/app.js';
import { CookieJar, listen, type Served } from './helpers/http.js';
import { serveFastify, serveFastifyWithWebSocket, serveFetch, serveNextPages, serveNodeHTTP, serveWithWebSocket } from './helpers/servers.js';

type Sessions = ReturnType<typeof testManager>['sessions'];

/**
 * The cross-origin check (cross-site request forgery) on every adapter: each translates the request's
 * `Origin`, `Sec-Fetch-Site` and addressed host, and the core decides. A request from another origin may
 * read the session; its writes, `regenerate()` and `destroy()` fail with FORBIDDEN and change nothing.
 */
const EVIL = 'https://evil.example';
const TRUSTED = 'https://app.example';

const opened: Served[] = [];
afterEach(async () => {
  for (const served of opened.splice(0)) await served.close();
});

const serveExpress = (sessions: Sessions): Promise<Served> => {
  const app = express();
  app.use('/', createExpressMiddleware({ router, createContext: sessions.createContext }));
  return listen(createServer(app) as Server);
};

const adapters: [string, (sessions: Sessions) => Promise<Served>][] = [
  ['node-http (standalone)', serveNodeHTTP],
  ['express', serveExpress],
  ['fetch', serveFetch],
  ['fastify', (sessions) => serveFastify(sessions)],
  ['next (pages router)', serveNextPages],
];

/** A client whose requests carry `headers` (a browser would set them), with one cookie jar. */
function client(url: string, jar: CookieJar, headers: Record<string, string | undefined>) {
  return createTRPCClient<TestRouter>({ links: [httpLink({ url, fetch: jar.fetch, headers: () => Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined)) })] });
}

/** The call's outcome: 'ok', or the code it failed with. */
const outcome = (call: Promise<unknown>) => call.then(
  () => 'ok',
  (error: unknown) => (error instanceof TRPCClientError ? (error.data as { code?: string } | undefined)?.code ?? error.message : String(error)),
);

async function serve(serveWith: (sessions: Sessions) => Promise<Served>, options: TestManagerOptions = {}) {
  const app = testManager(memoryStore(), { trustedOrigins: [TRUSTED], ...options });
  const served = await serveWith(app.sessions);
  opened.push(served);
  return { ...app, url: served.url };
}

describe.each(adapters)('%s', (_, serveWith) => {
  test('another origin may read the session, but a write, regenerate() or destroy() fails with FORBIDDEN and changes nothing', async () => {
    const { url, errors } = await serve(serveWith);
    const jar = new CookieJar();
    const own = client(url, jar, { origin: new URL(url).origin });
    expect(await own.increment.mutate()).toBe(1);
    const figures: Record<string, number> = {};
    const count = (key: string) => (figures[key] = (figures[key] ?? 0) + 1);
    for (const headers of [{ origin: EVIL }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'http://127.0.0.1.evil.example' }, { origin: 'not a url' }]) {
      const forged = client(url, jar, headers);
      expect(await outcome(forged.increment.mutate()), JSON.stringify(headers)).toBe('FORBIDDEN');
      expect(await outcome(forged.atomicIncrement.mutate())).toBe('FORBIDDEN');
      expect(await outcome(forged.renew.mutate())).toBe('FORBIDDEN');
      expect(await outcome(forged.logout.mutate())).toBe('FORBIDDEN');
      // A value from get() changed in place: answered (after the response, nothing can fail the call), not written, reported.
      const before = errors.length;
      await forged.pushToCart.mutate({ productId: 'forged', quantity: 1 });
      await expect.poll(() => errors.slice(before).some((error) => error instanceof SessionForbiddenError)).toBe(true);
      // Reads still answer, with the session as it was.
      expect((await forged.read.query()).counter).toBe(1);
      expect((await forged.read.query()).cart).toEqual([]);
      count('refused');
    }
    expect(figures.refused).toBe(5);
    expect(await own.read.query()).toMatchObject({ counter: 1, cart: [] });
    expect(jar.cookies.size).toBe(1);
  });

  test("the server's own origin, a trusted origin, a same-site Sec-Fetch-Site and a request with neither header may change it", async () => {
    const { url } = await serve(serveWith);
    const jar = new CookieJar();
    let expected = 0;
    for (const headers of [{}, { origin: new URL(url).origin }, { origin: TRUSTED }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }]) {
      const allowed = client(url, jar, headers);
      expect(await allowed.increment.mutate(), JSON.stringify(headers)).toBe(++expected);
    }
    const trusted = client(url, jar, { origin: TRUSTED });
    await trusted.renew.mutate();
    expect((await trusted.read.query()).counter).toBe(expected);
    expect(await outcome(trusted.logout.mutate())).toBe('ok');
  });

  test('behind a trusted proxy the addressed host is X-Forwarded-Host; without trustProxy the header is ignored', async () => {
    const proxied = await serve(serveWith, { trustProxy: true });
    const viaProxy = client(proxied.url, new CookieJar(), { origin: 'https://shop.example', 'x-forwarded-host': 'shop.example' });
    expect(await outcome(viaProxy.increment.mutate())).toBe('ok');
    const direct = await serve(serveWith);
    const spoofed = client(direct.url, new CookieJar(), { origin: 'https://shop.example', 'x-forwarded-host': 'shop.example' });
    expect(await outcome(spoofed.increment.mutate())).toBe('FORBIDDEN');
  });
});

/** A `wsLink` client whose upgrade request carries the jar's cookie and `origin`, as a browser's does. */
function wsClient(wsUrl: string, jar: CookieJar, origin: string | undefined) {
  class BrowserWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      const cookie = jar.header();
      super(url, protocols, { headers: { ...(cookie === undefined ? {} : { cookie }), ...(origin === undefined ? {} : { origin }) } });
    }
  }
  const connection = createWSClient({ url: wsUrl, WebSocket: BrowserWebSocket as never, retryDelayMs: () => 50 });
  return { client: createTRPCClient<TestRouter>({ links: [wsLink({ client: connection })] }), close: () => connection.close() };
}

describe.each([
  ['ws (applyWSSHandler)', serveWithWebSocket],
  ['fastify useWSS', serveFastifyWithWebSocket],
] as const)('%s: the upgrade request’s Origin stands for every call on the connection', (_, serveWith) => {
  test('a connection opened by a page of another origin reads the session but cannot change it; own, trusted and header-less ones can', async () => {
    const app = testManager(memoryStore(), { trustedOrigins: [TRUSTED] });
    const served = await serveWith(app.sessions);
    opened.push(served);
    const jar = new CookieJar();
    const http = client(served.url, jar, {});
    expect(await http.increment.mutate()).toBe(1);
    const evil = wsClient(served.wsUrl, jar, EVIL);
    try {
      expect(await outcome(evil.client.increment.mutate())).toBe('FORBIDDEN');
      expect(await outcome(evil.client.atomicIncrement.mutate())).toBe('FORBIDDEN');
      expect((await evil.client.read.query()).counter).toBe(1);
    } finally {
      evil.close();
    }
    let expected = 1;
    for (const origin of [undefined, TRUSTED, new URL(served.url).origin]) {
      const allowed = wsClient(served.wsUrl, jar, origin);
      try {
        expect(await allowed.client.increment.mutate(), String(origin)).toBe(++expected);
      } finally {
        allowed.close();
      }
    }
  });
});

test('a server-side caller (no request, so no Origin) may change the session', async () => {
  const { sessions } = testManager(memoryStore(), { trustedOrigins: [TRUSTED] });
  let cookie: string | undefined;
  const caller = router.createCaller(createCallerContext(sessions, { cookie, setCookie: (header) => (cookie = header.split(';')[0]!.split('=')[1]) }));
  expect(await caller.increment()).toBe(1);
  expect(await router.createCaller(createCallerContext(sessions, { cookie })).increment()).toBe(2);
});
