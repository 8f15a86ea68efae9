import { parseSetCookie } from 'cookie';
import type { SessionManager } from '../manager.js';
import type { NoFlash, SessionSchema } from '../schema.js';
import type { SessionContext } from '../session-api.js';
import { createCallerContext } from './caller.js';

/**
 * What this module uses of Next.js's cookie store, `await cookies()` from `next/headers`. Described here so
 * the library does not depend on Next.js.
 */
export interface NextCookieStore {
  get(name: string): { value: string } | undefined;
  set(cookie: {
    name: string;
    value: string;
    maxAge?: number;
    expires?: Date;
    domain?: string;
    path?: string;
    secure?: boolean;
    httpOnly?: boolean;
    sameSite?: 'lax' | 'strict' | 'none';
    priority?: 'low' | 'medium' | 'high';
    partitioned?: boolean;
  }): unknown;
}

/** What this module uses of Next.js's request headers, `await headers()` from `next/headers`. */
export interface NextHeaders {
  get(name: string): string | null;
}

/**
 * Whether Next.js has the request as an HTTPS one: it puts the protocol in `X-Forwarded-Proto` (a proxy's, or
 * its own socket's when no proxy set it) and builds a route handler's `req.url` from it. A server action has
 * no URL; this is the same fact, so its cookie is as `Secure` as a route handler's.
 */
function nextRequestIsHttps(headers: NextHeaders): boolean {
  return headers.get('x-forwarded-proto')?.includes('https') ?? false;
}

/**
 * A `setCookie` for {@link createCallerContext} that sets the session cookie through Next.js's cookie store,
 * where Next.js lets it be set: a server action or a route handler (a server component cannot set cookies).
 * The cookie is `Secure` as `createCallerContext` decides: pass it `secure` (and `forwardedProto`) from the
 * request, or use {@link nextActionContext}, which does.
 */
export function nextCookieSetter(store: NextCookieStore): (header: string) => void {
  return (header) => {
    const { name, value = '', maxAge, expires, domain, path, secure, httpOnly, sameSite, priority, partitioned } = parseSetCookie(header);
    store.set({
      name,
      value,
      ...(maxAge === undefined ? {} : { maxAge }),
      ...(expires === undefined ? {} : { expires }),
      ...(domain === undefined ? {} : { domain }),
      ...(path === undefined ? {} : { path }),
      ...(secure === undefined ? {} : { secure }),
      ...(httpOnly === undefined ? {} : { httpOnly }),
      ...(sameSite === undefined || typeof sameSite === 'boolean' ? {} : { sameSite }),
      ...(priority === undefined ? {} : { priority }),
      ...(partitioned === undefined ? {} : { partitioned }),
    });
  };
}

/**
 * The context of a server-side caller inside a Next.js server action (or route handler): the session named
 * by the request's cookie, which `start()`, `regenerate()` and `destroy()` replace through `cookies().set`.
 * Procedures need `sessions.procedure`; each call's write is done before the call returns, so the next tRPC
 * request sees it. `headers` tell whether the request came over HTTPS, so that with `secure: 'auto'` the
 * cookie is `Secure` exactly when a route handler's would be.
 *
 * @example
 * 'use server';
 * const caller = router.createCaller(nextActionContext(sessions, await cookies(), await headers()));
 */
export function nextActionContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
  store: NextCookieStore,
  headers: NextHeaders,
): SessionContext<S, K, F> {
  return createCallerContext(sessions, {
    cookie: store.get(sessions.cookieName)?.value,
    setCookie: nextCookieSetter(store),
    secure: nextRequestIsHttps(headers),
  });
}

/**
 * The context of a server-side caller inside a Next.js server component. A render cannot set cookies, so it
 * reads and changes an existing session, while `start()`, `regenerate()` and `destroy()` throw
 * `SessionUnavailableError`.
 *
 * @example
 * const caller = router.createCaller(nextRenderContext(sessions, await cookies()));
 */
export function nextRenderContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
  store: NextCookieStore,
): SessionContext<S, K, F> {
  return createCallerContext(sessions, { cookie: store.get(sessions.cookieName)?.value });
}
