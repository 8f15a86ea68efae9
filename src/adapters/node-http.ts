import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TRPCRequestInfo } from '@trpc/server/http';
import type { SessionRuntime } from '../manager.js';
import { replaceSetCookie, STREAMING_COOKIE_REASON, type SessionTransport } from '../transport.js';

/** Whether a tRPC request streams its response, so its headers leave before any procedure runs. */
export function isStreamingRequest(info: TRPCRequestInfo | undefined): boolean {
  return info?.accept === 'application/jsonl' || info?.type === 'subscription';
}

/** Whether a request came over HTTPS, directly or (when trusted) according to its proxy. */
export function isHttpsRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as TLSSocket | undefined)?.encrypted) return true;
  if (!trustProxy) return false;
  const forwarded = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
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
  return {
    cookieHeader: req.headers.cookie,
    get secure() {
      return isHttpsRequest(req, runtime.trustProxy);
    },
    get cookieBlockedReason() {
      if (isStreamingRequest(info) || res.headersSent) return STREAMING_COOKIE_REASON;
      return null;
    },
    setCookie(header) {
      const existing = res.getHeader('set-cookie');
      const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', replaceSetCookie(list, runtime.cookie.name, header));
    },
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
