import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { SessionError } from './errors.js';
import type { TRPCRequestInfo } from '@trpc/server/http';

/**
 * What the session core needs from one HTTP exchange. Each adapter translates its framework's request and
 * response into this, and nothing more.
 */
export interface SessionTransport {
  /** The request's `Cookie` header. */
  readonly cookieHeader: string | undefined;
  /** Whether the request came over HTTPS, for the cookie's `Secure` attribute in `'auto'` mode. */
  readonly secure: boolean;
  /**
   * Why a `Set-Cookie` can no longer reach the client (streaming, WebSocket), or `null` when it can. An
   * operation that needs a new cookie fails with this reason instead of losing the cookie silently.
   */
  readonly cookieBlockedReason: string | null;
  /** Sets the session cookie on the response, replacing one set earlier in the same request. */
  setCookie(header: string): void;
  /**
   * Registers the write of the session's changes. The adapter runs it once the response is written, or,
   * in `'before-response'` mode, before the response is released and waits for it.
   */
  onCommit(commit: SessionCommit): void;
}

/**
 * Writes a request's session changes. Never rejects: resolves to the error (already reported through
 * `onError`) when the write failed, so an adapter that holds the response can turn it into a failure.
 */
export type SessionCommit = () => Promise<SessionError | null>;

/** Why a streamed response cannot carry a new cookie; shared by the adapters that stream. */
export const STREAMING_COOKIE_REASON =
  'This call is streamed (httpBatchStreamLink or a subscription), so its response headers were sent before ' +
  'the procedure ran and no session cookie can be set. Call procedures that start, regenerate or destroy a ' +
  'session through httpBatchLink or httpLink (for example with splitLink).';

/** Replaces any `Set-Cookie` for `name` in `existing` with `header`. */
export function replaceSetCookie(existing: readonly string[], name: string, header: string): string[] {
  const prefix = `${name}=`;
  return [...existing.filter((value) => !value.startsWith(prefix)), header];
}

/** Whether a tRPC request streams its response, so its headers leave before any procedure runs. */
export function isStreamingRequest(info: TRPCRequestInfo | undefined): boolean {
  return info?.accept === 'application/jsonl' || info?.type === 'subscription';
}

/** Whether an `X-Forwarded-Proto` header says the client reached the proxy over HTTPS (its first hop counts). */
export function isForwardedHttps(header: string | null | undefined): boolean {
  return header?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/**
 * The status and tRPC-shaped JSON body of a response that replaces a procedure's result when the session
 * write it depended on failed (`'before-response'` mode): the client gets the session error, never success.
 */
export function failedWriteResponse(failure: SessionError): { status: number; body: string } {
  const { code, message } = failure;
  const status = getHTTPStatusCodeFromError(failure);
  // -32603 is JSON-RPC's internal error; tRPC clients read the precise code from `data.code`.
  return { status, body: JSON.stringify({ error: { message, code: -32603, data: { code, httpStatus: status } } }) };
}
