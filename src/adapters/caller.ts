import { stringifyCookie } from 'cookie';
import { perCallSession } from '../commit.js';
import { SessionUnavailableError } from '../errors.js';
import type { SessionManager } from '../manager.js';
import { runtimeOf } from '../options.js';
import { requestIsHttps } from '../transport.js';
import type { NoFlash, SessionSchema } from '../schema.js';
import type { SessionContext } from '../session-api.js';

/** Options of {@link createCallerContext}. */
export interface CallerSessionOptions {
  /**
   * The session cookie's value, as the request being served carried it, e.g. Next.js
   * `(await cookies()).get('sid')?.value`; undefined when it had none.
   */
  cookie: string | undefined;
  /**
   * Receives the `Set-Cookie` header value when a call starts, regenerates or destroys the session, for you
   * to put on the response you are building. Without it those operations throw `SessionUnavailableError`,
   * while reading and changing an existing session still work (a server component cannot set cookies).
   */
  setCookie?: ((header: string) => void) | undefined;
  /**
   * Whether the request being served came over HTTPS itself (its socket, or its URL), for the cookie's
   * `Secure` attribute in `'auto'` mode.
   * @default false
   */
  secure?: boolean | undefined;
  /**
   * The request's `X-Forwarded-Proto` header, which says it came over HTTPS to a proxy in front, when the
   * manager has `trustProxy`: the rule of the HTTP adapters, so the cookie set here is as `Secure` as theirs.
   */
  forwardedProto?: string | null | undefined;
}

const NO_SET_COOKIE_REASON =
  'This server-side call has no way to set a cookie, so a session can be read and changed here, but not ' +
  'started, regenerated or destroyed: pass `setCookie` to `createCallerContext` where the response can carry it.';

/**
 * The context for server-side calls (`createCaller`, React server components, server actions), with the
 * session named by a cookie value you supply. Procedures need `sessions.procedure`, which writes each
 * call's changes before the call returns (a failed write fails the call); so a call's writes are visible
 * to the next call of the same caller.
 *
 * @example
 * const caller = createCaller(createCallerContext(sessions, { cookie: (await cookies()).get('sid')?.value }));
 * const cart = await caller.cart.list();
 */
export function createCallerContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
  options: CallerSessionOptions,
): SessionContext<S, K, F> {
  const runtime = runtimeOf(sessions);
  const { setCookie } = options;
  const client = {
    cookieHeader: options.cookie === undefined ? undefined : stringifyCookie({ [runtime.cookie.name]: options.cookie }),
    secure: requestIsHttps(runtime.trustProxy, options.secure ?? false, options.forwardedProto),
    cookieBlockedReason: setCookie === undefined ? NO_SET_COOKIE_REASON : null,
    setCookie:
      setCookie ??
      (() => {
        throw new SessionUnavailableError(NO_SET_COOKIE_REASON);
      }),
  };
  // The caller awaits its call, and a server function may stop right after it: the write comes first.
  return runtime.context(perCallSession<S>(runtime, client, true)) as SessionContext<S, K, F>;
}
