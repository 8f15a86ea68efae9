import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TRPCRequestInfo } from '@trpc/server/http';
import type { SessionRuntime } from '../options.js';
import { addressedHost, isStreamingRequest, replaceSetCookie, requestIsHttps, STREAMING_COOKIE_REASON, type SessionTransport } from '../transport.js';

/** Whether a request came over HTTPS, directly or (when trusted) according to its proxy. */
export function isHttpsRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  return requestIsHttps(trustProxy, (req.socket as TLSSocket | undefined)?.encrypted === true, Array.isArray(forwarded) ? forwarded[0] : forwarded);
}

/** The first value of a request header Node may give as a list. */
const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** The facts that say where a request came from, for the core's cross-origin check (`origin-check.ts`). */
export function requestOrigin(req: IncomingMessage, trustProxy: boolean): { origin: string | undefined; fetchSite: string | undefined; host: string | undefined } {
  return {
    origin: first(req.headers.origin),
    fetchSite: first(req.headers['sec-fetch-site']),
    host: addressedHost(req.headers.host, first(req.headers['x-forwarded-host']), trustProxy),
  };
}

/** The values of a response header as Node's `getHeader` (or fastify's) returns it: none, one or many. */
export function headerValues(value: number | string | string[] | undefined): readonly string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
}

/** Sets the session cookie on a framework's response; some (fastify) write their own headers over Node's. */
export type SetCookie = (header: string) => void;

/**
 * Node's request and response as facts for the core, whatever framework sits on them. A class, not an object
 * literal with accessors: it is built for every request, touched or not, and V8 builds accessor literals
 * slowly.
 */
class NodeResponseTransport implements SessionTransport {
  readonly #runtime: SessionRuntime;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #info: TRPCRequestInfo | undefined;
  readonly #setCookie: SetCookie | undefined;

  constructor(runtime: SessionRuntime, req: IncomingMessage, res: ServerResponse, info: TRPCRequestInfo | undefined, setCookie?: SetCookie) {
    this.#runtime = runtime;
    this.#req = req;
    this.#res = res;
    this.#info = info;
    this.#setCookie = setCookie;
  }

  get cookieHeader(): string | undefined {
    return this.#req.headers.cookie;
  }

  get secure(): boolean {
    return isHttpsRequest(this.#req, this.#runtime.trustProxy);
  }

  get origin(): string | undefined {
    return first(this.#req.headers.origin);
  }

  get fetchSite(): string | undefined {
    return first(this.#req.headers['sec-fetch-site']);
  }

  get host(): string | undefined {
    return addressedHost(this.#req.headers.host, first(this.#req.headers['x-forwarded-host']), this.#runtime.trustProxy);
  }

  get cookieBlockedReason(): string | null {
    return isStreamingRequest(this.#info) || this.#res.headersSent ? STREAMING_COOKIE_REASON : null;
  }

  setCookie(header: string): void {
    if (this.#setCookie !== undefined) return this.#setCookie(header);
    this.#res.setHeader('set-cookie', replaceSetCookie(headerValues(this.#res.getHeader('set-cookie')), this.#runtime.cookie.name, header));
  }

  onEnd(listener: () => Promise<unknown>): void {
    // 'finish': the response was handed to the OS; 'close': the client went away first. Both come, and the
    // listener acts once: `on` spares the wrappers `once` builds, and the removal, for every request.
    this.#res.on('finish', listener);
    this.#res.on('close', listener);
  }
}

/**
 * The node-http transport: standalone `createHTTPServer`, `createExpressMiddleware` and Next.js
 * `createNextApiHandler` all hand `createContext` Node's `req` and `res`. A framework that sets response
 * headers its own way (fastify writes its reply's headers over Node's) passes that way as `setCookie`.
 */
export function nodeHTTPTransport(
  runtime: SessionRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  info: TRPCRequestInfo | undefined,
  setCookie?: SetCookie,
): SessionTransport {
  return new NodeResponseTransport(runtime, req, res, info, setCookie);
}
