import type { IncomingMessage } from 'node:http';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { httpSession } from '../commit.js';
import type { SessionManager } from '../manager.js';
import { runtimeOf } from '../options.js';
import type { NoFlash, SessionSchema } from '../schema.js';
import type { SessionContext } from '../session-api.js';
import { replaceSetCookie } from '../transport.js';
import { headerValues, nodeHTTPTransport } from './node-http.js';
import { webSocketSessionContext } from './ws.js';

/**
 * `createContext` for `fastifyTRPCPlugin` (fastify 5). The cookie goes through the reply, so fastify sends
 * it with its own headers; the session is written once fastify has written the response (its `onResponse`
 * moment: Node's `finish`), or before the calls answer in `'before-response'` mode. Streamed calls
 * (`httpBatchStreamLink`, SSE subscriptions) use existing sessions but cannot start one. With `useWSS`,
 * WebSocket calls get the session as over `createWSContext` (procedures need `sessions.procedure`).
 *
 * @example
 * const sessionContext = createFastifyContext(sessions);
 * app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router, createContext: sessionContext } });
 */
export function createFastifyContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
): (opts: CreateFastifyContextOptions) => SessionContext<S, K, F> {
  const runtime = runtimeOf(sessions);
  return ({ req, res, info }) => {
    // With `useWSS`, a WebSocket connection gets the same createContext with Node's upgrade request as `req`
    // (no fastify `raw`) and the socket as `res`.
    if (!('raw' in req)) return webSocketSessionContext(sessions, req as IncomingMessage);
    const transport = nodeHTTPTransport(runtime, req.raw, res.raw, info, (header) => {
      // fastify sends its reply's headers over whatever was set on Node's response, so the cookie goes there.
      const cookies = replaceSetCookie(headerValues(res.getHeader('set-cookie')), runtime.cookie.name, header);
      res.removeHeader('set-cookie');
      res.header('set-cookie', cookies);
    });
    return runtime.context(httpSession<S>(runtime, transport)) as SessionContext<S, K, F>;
  };
}
