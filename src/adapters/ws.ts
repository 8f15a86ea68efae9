import type { IncomingMessage } from 'node:http';
import type { CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import { SessionUnavailableError } from '../errors.js';
import type { SessionContext, SessionManager } from '../manager.js';
import { perCallContext } from '../per-call.js';
import type { SessionSchema } from '../schema.js';
import { isHttpsRequest } from './node-http.js';

const WEBSOCKET_COOKIE_REASON =
  'This call came over a WebSocket, whose only response was sent when it connected, so no session cookie can ' +
  'be set: a session can be read and changed here, but not started, regenerated or destroyed. Make those ' +
  'calls over HTTP (httpBatchLink, for example with splitLink), and reconnect the WebSocket after a login or ' +
  'logout so that it carries the new cookie.';

/**
 * The session context of one WebSocket connection, named by the cookie of its upgrade request `req`.
 * @internal shared by `createWSContext` and fastify's `useWSS`
 */
export function webSocketSessionContext<S extends SessionSchema>(sessions: SessionManager<S>, req: IncomingMessage): SessionContext<S> {
  return perCallContext(
    sessions,
    {
      cookieHeader: req.headers.cookie,
      secure: isHttpsRequest(req, sessions.runtime.trustProxy),
      cookieBlockedReason: WEBSOCKET_COOKIE_REASON,
      setCookie() {
        throw new SessionUnavailableError(WEBSOCKET_COOKIE_REASON);
      },
    },
    // As over HTTP: the result goes out first, unless the app asked for writes to land before it.
    sessions.runtime.persistMode === 'before-response',
  );
}

/**
 * `createContext` for `applyWSSHandler` (tRPC's `ws` adapter, `wsLink`). The connection's upgrade request
 * carries the cookie that names the session. Procedures need the `sessionPerCall` middleware: it gives each
 * call a fresh load of the session (another tab may have changed it since the connection opened) and writes
 * the call's changes when it ends, since no response can carry a cookie or mark the end.
 *
 * @example
 * const procedure = t.procedure.use(sessionPerCall);
 * applyWSSHandler({ wss, router, createContext: createWSContext(sessions) });
 */
export function createWSContext<S extends SessionSchema>(
  sessions: SessionManager<S>,
): (opts: CreateWSSContextFnOptions) => SessionContext<S> {
  return ({ req }) => webSocketSessionContext(sessions, req);
}
