import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TRPCRequestInfo } from '@trpc/server/http';
import { nodeHTTPTransport } from './adapters/node-http.js';
import { resolveCookieConfig, type CookieConfig, type SessionCookieOptions } from './cookie.js';
import type { SessionError } from './errors.js';
import { FieldLocks } from './field-locks.js';
import { SessionHandle } from './handle.js';
import { CookieValueCodec, sessionRef } from './id.js';
import { assertManagerOptions } from './option-checks.js';
import { FieldSchemas, type RequireOptionalFields, type SessionSchema } from './schema.js';
import type { ExpiryPolicy, SessionStore } from './stores/store.js';
import type { SessionTransport } from './transport.js';

/** When the changes of a request are written. */
export type PersistMode = 'after-response' | 'before-response';

/** Options of {@link createSessionManager}. */
export interface SessionManagerOptions<S extends SessionSchema> {
  /**
   * The zod object schema of the session's data. Every field needs `.optional()` or `.default(…)`, since a
   * new session starts empty. Values are validated on `put` and when read back from the store.
   */
  schema: S;
  /** Where sessions live: `redisStore({ redis })` in production, `memoryStore()` for development. */
  store: SessionStore;
  /** The session cookie: name, lifespan (the idle timeout) and attributes. */
  cookie?: SessionCookieOptions;
  /**
   * Secrets to sign the cookie with (HMAC-SHA256, at least 32 characters each). The first signs; all verify,
   * so a new secret goes first and an old one stays until its cookies have expired. A cookie with a wrong
   * signature is ignored without a store lookup. Unsigned cookies are already unguessable (192 random bits);
   * signing adds rotation and a cheap rejection of forgeries.
   */
  secrets?: string[];
  /**
   * Seconds after creation when a session ends however active it is (OWASP's absolute timeout). The cookie's
   * `Max-Age` and the record's TTL never reach past it.
   * @default undefined (no absolute timeout)
   */
  absoluteLifetime?: number;
  /**
   * Seconds that must pass before a read refreshes the session's expiry (TTL and cookie) again, so a busy
   * client does not rewrite its expiry on every request. The refresh travels with the read, in the same
   * round trip.
   * @default min(60, lifespan / 10)
   */
  touchAfter?: number;
  /**
   * The largest encoded session, in bytes. A persist that would exceed it fails with
   * `SessionTooLargeError` and writes nothing.
   * @default 65536
   */
  maxSize?: number;
  /**
   * `'after-response'` writes a request's changes once its response is written, so they add no latency.
   * `'before-response'` holds the end of the response until the write is done, for apps whose next request
   * may reach another process before an after-response write lands (a redirect after login behind a load
   * balancer).
   * @default 'after-response'
   */
  persist?: PersistMode;
  /**
   * Trust `X-Forwarded-Proto` to tell whether the request came over HTTPS (for `Secure` in `'auto'` mode).
   * Enable it only behind a proxy that sets the header.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * A number stored with each session, saying which version of your schema wrote it.
   * @default 1
   */
  schemaVersion?: number;
  /**
   * Receives what goes wrong outside a procedure's reach: a failed write after the response, a corrupt
   * record, a stored field dropped by the schema. Must not throw.
   * @default logs the message (with a shortened session ID, never data) to stderr
   */
  onError?: (error: SessionError) => void;
}

/** The resolved configuration the core works with. @internal */
export interface SessionRuntime {
  readonly fields: FieldSchemas;
  readonly store: SessionStore;
  readonly cookie: CookieConfig;
  readonly cookieValues: CookieValueCodec;
  readonly policy: ExpiryPolicy;
  readonly maxSize: number;
  readonly persistMode: PersistMode;
  readonly trustProxy: boolean;
  readonly schemaVersion: number;
  readonly fieldLocks: FieldLocks;
  report(error: SessionError): void;
}

/** The options tRPC's node-http adapters (standalone, Express, Next.js pages) pass to `createContext`. */
export interface NodeHTTPContextOptions {
  req: IncomingMessage;
  res: ServerResponse;
  info?: TRPCRequestInfo;
}

/** The context `createContext` returns: spread it into your own. */
export interface SessionContext<S extends SessionSchema> {
  session: SessionHandle<S>;
}

/** One of a user's sessions, as {@link SessionManager.userSessions} lists it: nothing in it opens the session. */
export interface UserSessionInfo {
  /** The session's `ref`: safe to send to the client, and equal to `session.ref` on the device that holds it. */
  ref: string;
  createdAt: Date;
  /** When the session was last written or had its expiry refreshed (see `touchAfter`). */
  lastUsedAt: Date;
}

/** Created once per app by {@link createSessionManager}; hands a session handle to every tRPC call. */
export interface SessionManager<S extends SessionSchema> {
  /**
   * `createContext` for tRPC's node-http adapters (`createHTTPServer`, `createExpressMiddleware`,
   * `createNextApiHandler`). Does no I/O. Called without options (a server-side caller), it gives a handle
   * whose `start()` throws `SessionUnavailableError`.
   */
  createContext(opts?: NodeHTTPContextOptions): SessionContext<S>;
  /** A handle over any transport; what the adapters build on. */
  handle(transport: SessionTransport | null): SessionHandle<S>;
  /**
   * The live sessions bound to the user by `session.bindUser`, most recently used first: for a "your
   * devices" page. Never includes session IDs.
   */
  userSessions(userId: string): Promise<UserSessionInfo[]>;
  /**
   * Ends every session bound to the user ("log out everywhere"); their next requests have no session.
   * Resolves to how many sessions were ended. A session bound while this runs may survive it.
   */
  revokeUser(userId: string): Promise<number>;
  /** Closes what the store opened (a Redis client it created from a factory). */
  close(): Promise<void>;
  /** @internal */
  readonly runtime: SessionRuntime;
}

function seconds(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!(resolved > 0) || !Number.isFinite(resolved)) throw new TypeError(`trpc-session: ${name} must be a positive number of seconds`);
  return resolved;
}

function defaultOnError(error: SessionError): void {
  console.error(`[trpc-session] ${error.name}: ${error.message}`);
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
export function createSessionManager<S extends SessionSchema>(
  options: SessionManagerOptions<S> & { schema: S & RequireOptionalFields<S> },
): SessionManager<S> {
  assertManagerOptions(options);
  const cookie = resolveCookieConfig(options.cookie);
  const idleSeconds = cookie.lifespanSeconds;
  const absoluteSeconds = options.absoluteLifetime === undefined ? null : seconds('absoluteLifetime', options.absoluteLifetime, 0);
  const touchAfterSeconds = options.touchAfter ?? Math.min(60, idleSeconds / 10);
  if (!(touchAfterSeconds >= 0)) throw new TypeError('trpc-session: touchAfter must be zero or more seconds');
  const maxSize = options.maxSize ?? 65_536;
  if (!Number.isInteger(maxSize) || maxSize < 1) throw new TypeError('trpc-session: maxSize must be a positive number of bytes');
  const persistMode = options.persist ?? 'after-response';
  if (persistMode !== 'after-response' && persistMode !== 'before-response') {
    throw new TypeError("trpc-session: persist must be 'after-response' or 'before-response'");
  }
  const onError = options.onError ?? defaultOnError;

  const runtime: SessionRuntime = {
    fields: new FieldSchemas(options.schema, maxSize),
    store: options.store,
    cookie,
    cookieValues: new CookieValueCodec(options.secrets),
    policy: {
      idleMs: idleSeconds * 1000,
      absoluteMs: absoluteSeconds === null ? null : absoluteSeconds * 1000,
      touchAfterMs: touchAfterSeconds * 1000,
    },
    maxSize,
    persistMode,
    trustProxy: options.trustProxy ?? false,
    schemaVersion: options.schemaVersion ?? 1,
    fieldLocks: new FieldLocks(),
    report(error) {
      try {
        onError(error);
      } catch {
        // A throwing onError must not take the server down with it.
      }
    },
  };

  const handle = (transport: SessionTransport | null) => new SessionHandle<S>(runtime, transport);
  return {
    runtime,
    handle,
    createContext: (opts) => ({ session: handle(opts?.req && opts.res ? nodeHTTPTransport(runtime, opts.req, opts.res, opts.info) : null) }),
    async userSessions(userId) {
      const records = await options.store.userSessions(userId, Date.now());
      return records
        .sort((a, b) => b.lastUsedAt - a.lastUsedAt)
        .map(({ id, createdAt, lastUsedAt }) => ({ ref: sessionRef(id), createdAt: new Date(createdAt), lastUsedAt: new Date(lastUsedAt) }));
    },
    revokeUser: (userId) => options.store.revokeUser(userId),
    close: () => options.store.close(),
  };
}
