import type { TRPCRequestInfo } from '@trpc/server/http';

/**
 * The facts the session core needs from one HTTP exchange. Each adapter translates its framework's request
 * and response into these, and decides nothing: when the session is written, and where a failed write goes,
 * is the core's (commit.ts).
 */
export interface SessionTransport {
  /** The request's `Cookie` header. */
  readonly cookieHeader: string | undefined;
  /** Whether the request came over HTTPS, for the cookie's `Secure` attribute in `'auto'` mode. */
  readonly secure: boolean;
  /**
   * Why a `Set-Cookie` can no longer reach the client (streaming, WebSocket, headers already sent), or
   * `null` when it can. An operation that needs a new cookie fails with this reason instead of losing the
   * cookie silently.
   */
  readonly cookieBlockedReason: string | null;
  /** Sets the session cookie on the response, replacing one set earlier in the same request. */
  setCookie(header: string): void;
  /**
   * Calls `listener` once the response has finished, or the client went away first (it may be called for
   * both; the core acts once). Where the platform can keep work running after the response (`waitUntil`),
   * the adapter hands it the promise `listener` returns.
   */
  onEnd(listener: () => Promise<unknown>): void;
  /** The request's `Origin` header; undefined without one (or without a request: a server-side caller). */
  readonly origin?: string | undefined;
  /** The request's `Sec-Fetch-Site` header (`same-origin`, `same-site`, `cross-site`, `none`). */
  readonly fetchSite?: string | undefined;
  /** The host the client addressed: `Host` (the URL's host), or with `trustProxy` the first `X-Forwarded-Host`. */
  readonly host?: string | undefined;
}

/** Why a streamed response cannot carry a new cookie; shared by the adapters that stream. */
export const STREAMING_COOKIE_REASON =
  'This call is streamed (httpBatchStreamLink or a subscription), so its response headers were sent before ' +
  'the procedure ran and no session cookie can be set. Call procedures that start, regenerate or destroy a ' +
  'session through httpBatchLink or httpLink (for example with splitLink).';

/** Replaces any `Set-Cookie` for `name` in `existing` with `header`. */
export function replaceSetCookie(existing: readonly string[], name: string, header: string): string[] {
  // Nearly always none: the session's cookie is the only one most responses set.
  if (existing.length === 0) return [header];
  const prefix = `${name}=`;
  return [...existing.filter((value) => !value.startsWith(prefix)), header];
}

/** Whether a tRPC request streams its response, so its headers leave before any procedure runs. */
export function isStreamingRequest(info: TRPCRequestInfo | undefined): boolean {
  return info?.accept === 'application/jsonl' || info?.type === 'subscription';
}

/**
 * Whether a request came over HTTPS, for the cookie's `Secure` in `'auto'` mode: the one rule of every path
 * (adapters, server-side callers, Next.js server actions). `https`: what the request itself says (its socket,
 * or its URL); `forwardedProto`: its `X-Forwarded-Proto`, believed under `trustProxy` only.
 */
export function requestIsHttps(trustProxy: boolean, https: boolean, forwardedProto: string | null | undefined): boolean {
  return https || (trustProxy && isForwardedHttps(forwardedProto));
}

/** Whether an `X-Forwarded-Proto` header says the client reached the proxy over HTTPS (its first hop counts). */
export function isForwardedHttps(header: string | null | undefined): boolean {
  return header?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** The host a request addressed: the first `X-Forwarded-Host` when the proxy is trusted and set one, else `host`. */
export function addressedHost(host: string | null | undefined, forwardedHost: string | null | undefined, trustProxy: boolean): string | undefined {
  const forwarded = trustProxy ? forwardedHost?.split(',')[0]?.trim() : undefined;
  return forwarded || host || undefined;
}
