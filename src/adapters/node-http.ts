import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TRPCRequestInfo } from '@trpc/server/http';
import type { SessionRuntime } from '../manager.js';
import { isForwardedHttps, isStreamingRequest, replaceSetCookie, STREAMING_COOKIE_REASON, type SessionTransport } from '../transport.js';

/** Whether a request came over HTTPS, directly or (when trusted) according to its proxy. */
export function isHttpsRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as TLSSocket | undefined)?.encrypted) return true;
  if (!trustProxy) return false;
  const forwarded = req.headers['x-forwarded-proto'];
  return isForwardedHttps(Array.isArray(forwarded) ? forwarded[0] : forwarded);
}

/**
 * A transport over Node's own request and response, whatever framework sits on them; `setCookie` is the
 * framework's way to set the response header, since some (fastify) write their own headers over Node's.
 */
export function nodeResponseTransport(
  runtime: SessionRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  info: TRPCRequestInfo | undefined,
  setCookie: (header: string) => void,
): SessionTransport {
  return {
    cookieHeader: req.headers.cookie,
    get secure() {
      return isHttpsRequest(req, runtime.trustProxy);
    },
    get cookieBlockedReason() {
      if (isStreamingRequest(info) || res.headersSent) return STREAMING_COOKIE_REASON;
      return null;
    },
    setCookie,
    onCommit(commit) {
      if (runtime.persistMode === 'before-response') {
        // Hold the end of the response until the write is done; headers and body chunks still flow.
        const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
        res.end = ((...args: unknown[]) => {
          void commit().finally(() => end(...args));
          return res;
        }) as ServerResponse['end'];
        return;
      }
      let done = false;
      const run = () => {
        if (done) return;
        done = true;
        void commit();
      };
      // 'finish': the response was handed to the OS; 'close': the client went away first.
      res.once('finish', run);
      res.once('close', run);
    },
  };
}

/**
 * The node-http transport: standalone `createHTTPServer`, `createExpressMiddleware` and Next.js
 * `createNextApiHandler` all hand `createContext` Node's `req` and `res`.
 */
export function nodeHTTPTransport(
  runtime: SessionRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  info: TRPCRequestInfo | undefined,
): SessionTransport {
  return nodeResponseTransport(runtime, req, res, info, (header) => {
    const existing = res.getHeader('set-cookie');
    const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
    res.setHeader('set-cookie', replaceSetCookie(list, runtime.cookie.name, header));
  });
}
