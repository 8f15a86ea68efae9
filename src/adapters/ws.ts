import type { IncomingMessage } from 'node:http';
import type { CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import { perCallSession } from '../commit.js';
import { SessionUnavailableError } from '../errors.js';
import type { SessionManager } from '../manager.js';
import { runtimeOf } from '../options.js';
import type { NoFlash, SessionSchema } from '../schema.js';
import type { SessionContext } from '../session-api.js';
import { isHttpsRequest, requestOrigin } from './node-http.js';

const WEBSOCKET_COOKIE_REASON =
  'This call came over a WebSocket, whose only response was sent when it connected, so no session cookie can ' +
  'be set: a session can be read and changed here, but not started, regenerated or destroyed. Make those ' +
  'calls over HTTP (httpBatchLink, for example with splitLink), and reconnect the WebSocket after a login or ' +
  'logout so that it carries the new cookie.';

/**
 * The session context of one WebSocket connection, named by the cookie of its upgrade request `req`.
 * @internal shared by `createWSContext` and fastify's `useWSS`
 */
export function webSocketSessionContext<S extends SessionSchema, K extends string, F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
  req: IncomingMessage,
): SessionContext<S, K, F> {
  const runtime = runtimeOf(sessions);
  const client = {
    // The upgrade request's Origin stands for every call on the connection: a page on another site may open one.
    ...requestOrigin(req, runtime.trustProxy),
    cookieHeader: req.headers.cookie,
    secure: isHttpsRequest(req, runtime.trustProxy),
    cookieBlockedReason: WEBSOCKET_COOKIE_REASON,
    setCookie(): never {
      throw new SessionUnavailableError(WEBSOCKET_COOKIE_REASON);
    },
  };
  // As over HTTP: the result goes out first, unless the app asked for writes to land before it.
  return runtime.context(perCallSession<S>(runtime, client, runtime.persistMode === 'before-response')) as SessionContext<S, K, F>;
}

/**
 * `createContext` for `applyWSSHandler` (tRPC's `ws` adapter, `wsLink`). The connection's upgrade request
 * carries the cookie that names the session. Procedures need `sessions.procedure`: it gives each call a
 * fresh load of the session (another tab may have changed it since the connection opened) and writes the
 * call's changes when it ends, since no response can carry a cookie or mark the end. The upgrade request's
 * `Origin` stands for every call: a connection opened by a page of another origin (not in `trustedOrigins`)
 * reads the session but cannot change it.
 *
 * @example
 * const procedure = t.procedure.concat(sessions.procedure);
 * applyWSSHandler({ wss, router, createContext: createWSContext(sessions) });
 */
export function createWSContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
): (opts: CreateWSSContextFnOptions) => SessionContext<S, K, F> {
  return ({ req }) => webSocketSessionContext(sessions, req);
}
