import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { createNextApiHandler } from '@trpc/server/adapters/next';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import fastifyWebSocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { WebSocket, WebSocketServer } from 'ws';
import { createFastifyContext } from '../../src/adapters/fastify.js';
import { fetchSessionHandler } from '../../src/adapters/fetch.js';
import { createWSContext } from '../../src/adapters/ws.js';
import { router, type testManager, type TestRouter } from './app.js';
import { listen, type CookieJar, type Served } from './http.js';

type Sessions = ReturnType<typeof testManager>['sessions'];

/** Starts a server for the test router over `sessions`: one per transport under test. */
export type Serve = (sessions: Sessions) => Promise<Served>;

/** tRPC's standalone adapter (node-http). */
export const serveNodeHTTP: Serve = (sessions) => listen(createHTTPServer({ router, createContext: sessions.createContext }));

/** `fastifyTRPCPlugin` on fastify 5; `configure` adds the app's own hooks. */
export async function serveFastify(sessions: Sessions, configure?: (app: FastifyInstance) => void): Promise<Served> {
  const app = Fastify({ forceCloseConnections: true });
  configure?.(app);
  await app.register(fastifyTRPCPlugin, { trpcOptions: { router, createContext: createFastifyContext(sessions) } });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address, close: () => app.close() };
}

/** `fastifyTRPCPlugin` with `useWSS`: HTTP and WebSocket calls on one path, one `createContext` for both. */
export async function serveFastifyWithWebSocket(sessions: Sessions): Promise<Served & { wsUrl: string }> {
  const app = Fastify({ forceCloseConnections: true });
  await app.register(fastifyWebSocket);
  await app.register(fastifyTRPCPlugin, { prefix: '/trpc', useWSS: true, trpcOptions: { router, createContext: createFastifyContext(sessions) } });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `${address}/trpc`, wsUrl: `${address.replace('http:', 'ws:')}/trpc`, close: () => app.close() };
}

/** `fetchSessionHandler` served by Hono's Node server (a Request/Response bridge over Node's http). */
export function serveFetch(sessions: Sessions, waitUntil?: (promise: Promise<unknown>) => void): Promise<Served> {
  const server = createAdaptorServer({ fetch: (req: Request) => fetchSessionHandler(sessions, { endpoint: '/', req, router, waitUntil }) });
  return listen(server as Server);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/**
 * `createNextApiHandler` as Next.js's pages router runs it, without Next: the route `[trpc].ts` gets the
 * procedure path in `req.query.trpc`, and a JSON body already parsed into `req.body`.
 */
export const serveNextPages: Serve = (sessions) => {
  const handler = createNextApiHandler({ router, createContext: sessions.createContext });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = req.method === 'POST' ? await readBody(req) : '';
    Object.assign(req, {
      query: { ...Object.fromEntries(url.searchParams), trpc: url.pathname.slice(1) },
      body: req.headers['content-type']?.startsWith('application/json') && body !== '' ? JSON.parse(body) : body,
    });
    await handler(req as never, res as never);
  });
  return listen(server);
};

/** HTTP (standalone) and WebSocket (`applyWSSHandler`) on one port, as an app serving both would. */
export async function serveWithWebSocket(sessions: Sessions, wsRouter: AnyTRPCRouter = router): Promise<Served & { wsUrl: string }> {
  const server = createHTTPServer({ router, createContext: sessions.createContext });
  const wss = new WebSocketServer({ server });
  applyWSSHandler({ wss, router: wsRouter, createContext: createWSContext(sessions) });
  const served = await listen(server);
  return {
    url: served.url,
    wsUrl: served.url.replace('http:', 'ws:'),
    async close() {
      for (const socket of wss.clients) socket.terminate();
      wss.close();
      await served.close();
    },
  };
}

/** A `wsLink` client whose connection sends the jar's cookies with its upgrade request, as a browser's does. */
export function wsClient(wsUrl: string, jar: CookieJar) {
  class CookieWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      const cookie = jar.header();
      super(url, protocols, { headers: cookie === undefined ? {} : { cookie } });
    }
  }
  const connection = createWSClient({ url: wsUrl, WebSocket: CookieWebSocket as never, retryDelayMs: () => 50 });
  const client = createTRPCClient<TestRouter>({ links: [wsLink({ client: connection })] });
  return { client, close: () => connection.close() };
}
