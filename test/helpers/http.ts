import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { createHTTPServer, type CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { parseSetCookie, type SetCookie } from 'cookie';
import { EventSource } from 'eventsource';

/** A browser's cookie store, reduced to what these tests need: one host, names to values, Max-Age honoured. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** When each cookie with a Max-Age expires, as a browser would drop it. */
  readonly #expiresAt = new Map<string, number>();
  /** Every Set-Cookie seen, parsed, newest last. */
  readonly received: SetCookie[] = [];

  header(): string | undefined {
    for (const [name, expiresAt] of this.#expiresAt) if (expiresAt <= Date.now()) this.cookies.delete(name);
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  take(response: Response): void {
    for (const raw of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(raw);
      this.received.push(cookie);
      if (cookie.maxAge !== undefined && cookie.maxAge <= 0) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value ?? '');
      if (cookie.maxAge === undefined) this.#expiresAt.delete(cookie.name);
      else this.#expiresAt.set(cookie.name, Date.now() + cookie.maxAge * 1000);
    }
  }

  /** The fetch that a tRPC link uses: sends the jar's cookies, keeps the ones it gets back. */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    const cookie = this.header();
    if (cookie !== undefined) headers.set('cookie', cookie);
    const response = await fetch(input, { ...init, headers });
    this.take(response);
    return response;
  };
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Listens on a free loopback port; `close` also drops open (keep-alive, streaming, WebSocket) connections. */
/**
 * Node closes a keep-alive connection after 5 s idle, while undici's fetch keeps one for 4 s: on a loaded machine
 * the two timers race, and a request sent on a socket the server is closing fails with "other side closed".
 * A test server outwaits the client, so the client always closes first.
 */
export function keepIdleConnectionsLonger(server: Server): void {
  server.keepAliveTimeout = 60_000;
}

export async function listen(server: Server): Promise<Served> {
  keepIdleConnectionsLonger(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves a router with tRPC's standalone adapter on a free loopback port. */
export function serveStandalone(router: AnyTRPCRouter, createContext: (opts: CreateHTTPContextOptions) => unknown): Promise<Served> {
  return listen(createHTTPServer({ router, createContext: createContext as never }));
}

/** How a client sends its queries and mutations; subscriptions always go over SSE (httpSubscriptionLink). */
export type LinkKind = 'batch' | 'single' | 'stream';

/** A tRPC client over `url` that sends and keeps cookies in `jar`. */
export function trpcClient<R extends AnyTRPCRouter>(url: string, jar: CookieJar, link: LinkKind = 'batch') {
  const makeLink = { batch: httpBatchLink, single: httpLink, stream: httpBatchStreamLink }[link];
  // The routers under test use no transformer, which a generic R cannot show the links' types.
  return createTRPCClient<R>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url, EventSource, eventSourceOptions: { fetch: jar.fetch } } as never),
        false: makeLink({ url, fetch: jar.fetch } as never),
      }),
    ],
  });
}

/** A tRPC client with its own cookie jar: one simulated browser. */
export function browser<R extends AnyTRPCRouter>(url: string, link: LinkKind = 'batch') {
  const jar = new CookieJar();
  return { client: trpcClient<R>(url, jar, link), jar };
}

/**
 * One simulated browser behind a round-robin load balancer: each HTTP request goes to the next of `urls`
 * (same path, next server), with one cookie jar. `servedBy` lists where each request went.
 */
export function roundRobinBrowser<R extends AnyTRPCRouter>(urls: readonly string[]) {
  const jar = new CookieJar();
  const servedBy: string[] = [];
  const fetchNext = (input: RequestInfo | URL, init?: RequestInit) => {
    const target = urls[servedBy.length % urls.length]!;
    const url = new URL(input instanceof Request ? input.url : input);
    servedBy.push(target);
    return jar.fetch(new URL(url.pathname + url.search, target), init);
  };
  // The routers under test use no transformer, which a generic R cannot show the link's types.
  const client = createTRPCClient<R>({ links: [httpLink({ url: urls[0]!, fetch: fetchNext } as never)] });
  return { client, jar, servedBy };
}
