import type { IncomingMessage, ServerResponse } from 'node:http';
import { initTRPC, type TRPCError } from '@trpc/server';
import type { TRPCRequestInfo } from '@trpc/server/http';
import { nodeHTTPTransport } from './adapters/node-http.js';
import { httpSession, runSessionCall, type CallResult } from './commit.js';
import { SessionError, SessionUnavailableError } from './errors.js';
import { storeHealth } from './health.js';
import { closeStore, revokeOtherSessions, revokeSession, revokeUser, userSessions } from './lifecycle.js';
import { attachRuntime, isUserSessionCount, MAX_USER_SESSIONS, resolveOptions, type ReservedContextKey, type SessionManagerOptions, type SessionRuntime } from './options.js';
import type { NoFlash, RequireOptionalFields, SessionSchema } from './schema.js';
import type { Session, SessionContext, SessionHandle, SessionStoreHealth, UserSessionInfo, UserSessionsOptions } from './session-api.js';
import { ATTRIBUTE } from './telemetry.js';

/** The options tRPC's node-http adapters (standalone, Express, Next.js pages) pass to `createContext`. */
export interface NodeHTTPContextOptions {
  req: IncomingMessage;
  res: ServerResponse;
  info?: TRPCRequestInfo;
}

/**
 * A partial procedure that carries the session's middleware, for `t.procedure.concat(sessions.procedure)`.
 * @see SessionManager.procedure
 */
export type SessionProcedure<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> = SessionTRPC<S, K, F>['procedure'];

/**
 * tRPC for a session's context, named through `initTRPC` rather than by tRPC's builder types, whose type
 * parameters changed within 11.x (11.20 added one): the declaration then fits whichever 11.x the app has.
 */
type SessionTRPC<S extends SessionSchema, K extends string, F extends SessionSchema> = ReturnType<ReturnType<typeof initTRPC.context<SessionContext<S, K, F>>>['create']>;

/** `key` and `context`: the manager's context key, and how its contexts are built (`contextKey`). */
function sessionProcedure<S extends SessionSchema, K extends string, F extends SessionSchema>(key: string, context: (handle: SessionHandle<SessionSchema>) => object): SessionProcedure<S, K, F> {
  const t = initTRPC.context<SessionContext<S, K, F>>().create();
  return t.procedure.use(async (opts) => {
    const handle = (opts.ctx as Record<string, unknown> | undefined)?.[key];
    // Reached by JavaScript, or a context typed by a cast: say what is missing, through tRPC like any error.
    if (typeof handle !== 'object' || handle === null) throw new SessionUnavailableError(missingContextReason(key));
    return withSessionErrorCode(
      await runSessionCall(
        handle,
        (session) => (session === undefined ? opts.next() : opts.next({ ctx: context(session) as SessionContext<S, K, F> })),
        opts.signal,
      ),
    );
  });
}

/** What a procedure built on `sessions.procedure` says when its context has no session handle. */
function missingContextReason(key: string): string {
  return (
    `ctx.${key} is missing: the tRPC context has no session handle. Spread the session context into yours, ` +
    `createContext: (opts) => ({ ...sessions.createContext(opts), ...yourOwn }), or pass createContext: sessions.createContext ` +
    '(fastify: createFastifyContext(sessions); WebSocket: createWSContext(sessions); server-side callers: createCallerContext)'
  );
}

/**
 * A failed call's result with a session error's own code. tRPC answers an error that is not an instance of
 * its `TRPCError` class with `INTERNAL_SERVER_ERROR`, wrapping it; a session error made with another copy of
 * `@trpc/server` than the app's router uses is not (a bundler may give each its own: Next.js with
 * `serverExternalPackages: ['trpc-session']`, or a manager shared between routes bundled apart). The wrapper
 * is then made again, of the router's own class, with the session error's code.
 */
function withSessionErrorCode<R extends CallResult>(result: R): R {
  if (result.ok) return result;
  const { error } = result as R & { error: unknown };
  if (!(error instanceof Error) || error.name !== 'TRPCError') return result;
  const { cause } = error;
  const RouterError = error.constructor as new (opts: ConstructorParameters<typeof TRPCError>[0]) => Error;
  // Not tRPC's wrapping if the session error is of the router's own class: a wrapper of yours, kept as it is.
  if (!(cause instanceof SessionError) || (cause as unknown) instanceof RouterError) return result;
  const rebuilt = new RouterError({ code: cause.code, message: cause.message, cause });
  rebuilt.stack = cause.stack;
  return { ...result, error: rebuilt };
}

/**
 * Created once per app by {@link createSessionManager}; hands a session handle to every tRPC call, under the
 * context key `K` (`contextKey`, `'session'` by default), with flash values of the schema `F` (`flash`).
 */
export interface SessionManager<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> {
  /**
   * `createContext` for tRPC's node-http adapters (`createHTTPServer`, `createExpressMiddleware`,
   * `createNextApiHandler`). Does no I/O. Called without options (a server-side caller), it gives a handle
   * whose `start()` throws `SessionUnavailableError`.
   */
  createContext(opts?: NodeHTTPContextOptions): SessionContext<S, K, F>;
  /**
   * The session's part of your procedures: `const procedure = t.procedure.concat(sessions.procedure)`.
   * Required where a context serves many calls (WebSocket, server-side callers: each call gets its own
   * session) and with `persist: 'before-response'` (each call's changes are written before it answers, and
   * a failed write fails it through tRPC's own error handling). Elsewhere it does nothing, so it can sit on
   * every procedure. Put it first, before middlewares that use the session.
   */
  readonly procedure: SessionProcedure<S, K, F>;
  /**
   * The live sessions bound to the user by `session.bindUser`, most recently used first, each with the device
   * `bindUser` recorded: for a "your devices" page. Pass the asking request's session as `current` to have its
   * entry marked `current: true`. At most `limit` (by default `maxSessionsPerUser`, so all of them), read in
   * batches of 100 commands. Never includes session IDs.
   */
  userSessions(userId: string, options?: UserSessionsOptions): Promise<UserSessionInfo[]>;
  /**
   * Ends every session bound to the user ("log out everywhere"); their next requests have no session.
   * Resolves to how many sessions were ended. A session being regenerated meanwhile is ended too; one bound
   * by a login that starts while this runs may survive it.
   */
  revokeUser(userId: string): Promise<number>;
  /**
   * Ends one of the user's sessions by the `ref` that `userSessions` listed ("log out this device"): its next
   * requests have no session, even when it is being regenerated at that moment or was moments before (its ref
   * then changes, and the session is followed to its new ID). Resolves to whether a session was ended: `false`
   * for a ref that is not one of the user's live sessions. Take the ref from the client, never an ID.
   */
  revokeSession(userId: string, ref: string): Promise<boolean>;
  /**
   * Ends every session of `session`'s user except `session` itself ("log out other devices"), with the same
   * guarantee as `revokeSession` for each. `session` is spared at whatever ID another request's `regenerate()`
   * has just moved it to. Resolves to how many were ended; 0 for a session bound to no user.
   */
  revokeOtherSessions(session: Session<S, F>): Promise<number>;
  /**
   * Whether the session store answers, for a readiness probe (`/healthz`): a `PING` to Redis (each master of
   * a Cluster), bounded by `healthTimeout`. Creates no session, sets no cookie, never rejects. A failure's
   * `reason` names where the store is: log it rather than sending it to the prober.
   *
   * @example
   * const health = await sessions.health();
   * res.writeHead(health.ok ? 200 : 503).end(health.ok ? 'ok' : 'unavailable');
   */
  health(): Promise<SessionStoreHealth>;
  /** The session cookie's name, for reading it where you pass the cookie yourself (`cookies().get(…)`). */
  readonly cookieName: string;
  /** Closes what the store opened (a Redis client it created from a factory). */
  close(): Promise<void>;
}

/** A user-level operation in a span when telemetry is on; `ended` tells how many sessions it ended (a count, or whether one). */
function traced<T>(runtime: SessionRuntime, name: string, operation: () => Promise<T>, ended?: (result: T) => number): Promise<T> {
  const telemetry = runtime.telemetry;
  if (telemetry === null) return operation();
  return telemetry.span(name, {}, async (span) => {
    const result = await operation();
    if (ended !== undefined) span?.setAttribute(ATTRIBUTE.sessionsEnded, ended(result));
    return result;
  });
}

/**
 * Creates the session manager. Options are checked here, once, so a misconfiguration fails at start-up.
 *
 * @example
 * const sessions = createSessionManager({
 *   schema: z.object({ cart: z.array(item).default([]) }),
 *   store: redisStore({ redis: new Redis() }),
 *   cookie: { name: 'dmsession', lifespan: 86400 },
 * });
 * createHTTPServer({ router, createContext: sessions.createContext });
 */
export function createSessionManager<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  options: SessionManagerOptions<S, K, F> & { schema: S & RequireOptionalFields<S>; contextKey?: Exclude<K, ReservedContextKey> },
): SessionManager<S, K, F> {
  const runtime = resolveOptions(options);
  runtime.store.reportTo?.(runtime.report);
  const manager: SessionManager<S, K, F> = {
    // The default key as a literal: the context of every request, touched or not, is built as before.
    createContext:
      runtime.contextKey === 'session'
        ? (opts) => ({ session: httpSession<S>(runtime, opts?.req && opts.res ? nodeHTTPTransport(runtime, opts.req, opts.res, opts.info) : null) }) as SessionContext<S, K, F>
        : (opts) => runtime.context(httpSession<S>(runtime, opts?.req && opts.res ? nodeHTTPTransport(runtime, opts.req, opts.res, opts.info) : null)) as SessionContext<S, K, F>,
    procedure: sessionProcedure<S, K, F>(runtime.contextKey, runtime.context),
    userSessions: (userId, options) => {
      const limit = options?.limit ?? runtime.maxSessionsPerUser;
      if (!isUserSessionCount(limit)) return Promise.reject(new TypeError(`trpc-session: userSessions \`limit\` must be a whole number from 1 to ${MAX_USER_SESSIONS}`));
      return traced(runtime, 'userSessions', () => userSessions(runtime, userId, options?.current?.ref ?? null, limit));
    },
    revokeUser: (userId) => traced(runtime, 'revokeUser', () => revokeUser(runtime, userId), Number),
    revokeSession: (userId, ref) => traced(runtime, 'revokeSession', () => revokeSession(runtime, userId, ref), Number),
    revokeOtherSessions: (session) => traced(runtime, 'revokeOtherSessions', () => revokeOtherSessions(runtime, session), Number),
    health: () => storeHealth(runtime),
    cookieName: runtime.cookie.name,
    close: () => closeStore(runtime),
  };
  attachRuntime(manager, runtime);
  return manager;
}
