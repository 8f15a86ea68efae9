import { resolveCookieConfig, type CookieConfig, type SessionCookieOptions } from './cookie.js';
import { SessionStoreUnavailableError, type SessionError } from './errors.js';
import { eventEmitter, type SessionEvent, type SessionEventDetails, type SessionEventType } from './events.js';
import { FieldLocks } from './field-locks.js';
import { CookieValueCodec } from './id.js';
import { resolveMigrations, type MigrationPlan, type SessionMigrations } from './migrations.js';
import { FieldSchemas, type NoFlash, type SessionSchema } from './schema.js';
import type { SessionContext, SessionHandle } from './session-api.js';
import type { ExpiryPolicy } from './expiry.js';
import type { SessionStore } from './stores/store.js';
import { assertManagerOptions } from './option-checks.js';
import { resolveTrustedOrigins } from './origin-check.js';
import { SessionTelemetry } from './telemetry.js';

/** When the changes of a request are written. */
export type PersistMode = 'after-response' | 'before-response';

/**
 * Names a `contextKey` may not take: the options tRPC hands the adapters' `createContext` (`req`, `res`,
 * `resHeaders`, `info`), which `fetchSessionHandler` passes on to yours beside the handle.
 */
export type ReservedContextKey = 'req' | 'res' | 'resHeaders' | 'info';

const RESERVED_CONTEXT_KEYS: readonly string[] = ['req', 'res', 'resHeaders', 'info'] satisfies ReservedContextKey[];

/** Options of `createSessionManager`. */
export interface SessionManagerOptions<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> {
  /**
   * The zod object schema of the session's data. Every field needs `.optional()` or `.default(…)`, since a
   * new session starts empty. Values are validated on `put` and when read back from the store.
   */
  schema: S;
  /**
   * The zod object schema of the session's flash values (`session.flash`): values set in one request and taken
   * once in a later one, such as `z.object({ notice: z.string() })`. Validated like the data on `set` and when
   * taken. Kept in the session's record under names that start with `flash:`, which no `schema` field may take.
   * @default undefined (no flash values)
   */
  flash?: F;
  /** Where sessions live: `redisStore({ redis })` in production, `memoryStore()` for development. */
  store: SessionStore;
  /** The session cookie: name, lifespan (the idle timeout) and attributes. */
  cookie?: SessionCookieOptions;
  /**
   * Secrets to sign the cookie with (HMAC-SHA256, at least 32 characters each). The first signs; all verify,
   * so a new secret goes first and an old one stays until its cookies have expired. A cookie with a wrong
   * signature is ignored without a store lookup. Unsigned cookies are already unguessable (192 random bits);
   * signing adds rotation and a cheap rejection of forgeries. An empty list is a `TypeError`.
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
   * client does not rewrite its expiry on every request. The refresh is one more command after the read. A
   * session with a shorter lifespan of its own (`regenerate({ lifespan })`) is refreshed at least every tenth of it.
   * @default min(60, lifespan / 10)
   */
  touchAfter?: number;
  /**
   * The largest encoded session, in bytes (the sum of its fields' encoded values). The store checks it in the
   * same atomic step as each write, so concurrent writes cannot pass it: a `put` or write that would grow the
   * session past it fails with `SessionTooLargeError` and writes nothing; shrinking writes and deletes always pass.
   * @default 65536
   */
  maxSize?: number;
  /**
   * `'after-response'` writes a request's changes once its response is written, so they add no latency.
   * `'before-response'` writes them before the calls that made them answer, and a failed write fails those
   * calls: for apps whose next request may reach another process before an after-response write lands (a
   * redirect after login behind a load balancer). Procedures that use the session then need
   * `sessions.procedure` (`t.procedure.concat(sessions.procedure)`).
   * @default 'after-response'
   */
  persist?: PersistMode;
  /**
   * Trust `X-Forwarded-Proto` to tell whether the request came over HTTPS (for `Secure` in `'auto'` mode), and
   * `X-Forwarded-Host` to tell the host the client addressed (the server's own origin, for `trustedOrigins`).
   * Enable it only behind a proxy that sets the headers.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * A number stored with each session, saying which version of your schema wrote it. Raise it with each
   * deploy whose `migrations` change stored data: records written by an older version are migrated as they
   * are read. A record written by a newer version is read as it is.
   * @default 1
   */
  schemaVersion?: number;
  /**
   * Lazy schema migrations: `{ 2: (fields) => …, 3: … }`, where migration `N` turns the decoded data fields
   * of a record written by version `N - 1` into those of version `N` (a plain object in, a plain object out;
   * a field left out is removed). A record written by an older `schemaVersion` is migrated when it is read,
   * every migration after its version in order; the fields they changed or removed are written back with the
   * request's next write, on condition that the record is still exactly as it was read, so concurrent requests
   * never lose an update. Keys are whole numbers from 2 to `schemaVersion`; versions may be skipped. A
   * migration that throws fails `start()`/`load()` with `SessionMigrationError` and leaves the record as it was.
   * @default {} (none)
   */
  migrations?: SessionMigrations;
  /**
   * The most sessions one user may have at once (`session.bindUser`). A login past it ends the user's session
   * that expires first (for sessions of one lifespan, the least recently used), told to `onEvent` as
   * `revoked` with the reason `'maxSessionsPerUser'`. So what a user's sessions cost stays bounded: a listing
   * (`userSessions`) reads this many by default, and the revokes work through a user's sessions in batches of
   * 100 commands. A whole number from 1 to 1000; a `TypeError` otherwise.
   * @default 100
   */
  maxSessionsPerUser?: number;
  /**
   * Receives what goes wrong outside a procedure's reach: a failed write after the response, a corrupt
   * record, a stored field dropped by the schema, and once each, Redis becoming unreachable
   * (`SessionStoreUnavailableError`) and answering again (`SessionStoreRecoveredError`). Must not throw.
   * @default logs the message (with a shortened session ID, never data) to stderr
   */
  onError?: (error: SessionError) => void;
  /**
   * Hears of each event in a session's life, for an audit log: `created` (its record first written),
   * `regenerated` (with `previousRef`), `destroyed` (`destroy()`), `revoked` (`revokeUser`, `revokeSession`, `revokeOtherSessions`, `maxSessionsPerUser`), `expired` (a load
   * found its lifetime over). Each event names the session by its `ref` and its user, never its ID or data.
   * Called after the fact, without waiting for what it returns: what it throws or rejects with goes to
   * `onError` as `SessionEventHookError`, and the request goes on.
   * @default undefined (no events)
   */
  onEvent?: (event: SessionEvent) => void | Promise<void>;
  /**
   * OpenTelemetry through `@opentelemetry/api` (install it; it is an optional peer dependency): spans for
   * loading and writing a session, `update`, `regenerate()`, `destroy()` and the user-level operations, each
   * with its outcome and, for a write, the number of fields written, named by the session's `ref`, never its ID
   * or data; and metrics (`trpc_session.load.duration`, `trpc_session.commit.duration`, `trpc_session.conflicts`,
   * `trpc_session.retries`, `trpc_session.store.outages`, `trpc_session.sessions.created`). They go to the
   * tracer and meter providers your OpenTelemetry SDK registers. Off, nothing of OpenTelemetry is loaded.
   * @default false
   */
  telemetry?: boolean;
  /**
   * The context key the session handle lives under, in every adapter's context and in `sessions.procedure`:
   * `contextKey: 'basket'` gives `ctx.basket.start()`, leaving `ctx.session` to the app (create-t3-app's
   * NextAuth session). Its literal type flows into `SessionContext`, `sessions.procedure` and the adapters.
   * A non-empty string other than `req`, `res`, `resHeaders`, `info` and the names of `Object.prototype`.
   * @default 'session'
   */
  contextKey?: K;
  /**
   * Milliseconds `sessions.health()` waits for the store to answer before it reports it unavailable, so a
   * readiness probe never hangs on a silent Redis. A positive whole number.
   * @default 1000
   */
  healthTimeout?: number;
  /**
   * Origins other than the server's own whose pages may change the session (write, regenerate or destroy it),
   * such as `['https://app.example.com']` for a page on another origin calling this API with the cookie. A
   * request whose `Origin` (or, without it, `Sec-Fetch-Site: cross-site`) says it comes from any other origin
   * may read the session, but a change fails with `SessionForbiddenError` (`FORBIDDEN`): the defence against
   * cross-site request forgery. Requests without either header (no browser page: a server, a script) may.
   * Required, non-empty, with `cookie.sameSite: 'none'`. With `trustProxy`, the server's own origin is taken
   * from `X-Forwarded-Host`.
   * @default [] (the server's own origin only)
   */
  trustedOrigins?: string[];
}

/** The resolved configuration every other module works with, checked once at start-up. @internal */
export interface SessionRuntime {
  readonly fields: FieldSchemas;
  /** The flash schema's validation; `null` without the `flash` option. */
  readonly flash: FieldSchemas | null;
  readonly store: SessionStore;
  /** OpenTelemetry's spans and metrics; `null` without the `telemetry` option. */
  readonly telemetry: SessionTelemetry | null;
  readonly cookie: CookieConfig;
  readonly cookieValues: CookieValueCodec;
  readonly policy: ExpiryPolicy;
  readonly maxSize: number;
  /** `maxSessionsPerUser`, checked. */
  readonly maxSessionsPerUser: number;
  readonly persistMode: PersistMode;
  readonly trustProxy: boolean;
  readonly schemaVersion: number;
  /** The checked `migrations`, leading to `schemaVersion`. */
  readonly migrations: MigrationPlan;
  readonly fieldLocks: FieldLocks;
  /** The context key of the session handle (`contextKey`). */
  readonly contextKey: string;
  /** The origins besides the server's own whose requests may change a session (`trustedOrigins`). */
  readonly trustedOrigins: ReadonlySet<string>;
  /** How long `sessions.health()` waits, in milliseconds (`healthTimeout`). */
  readonly healthTimeoutMs: number;
  /** The context that holds `handle` under the context key: one object, of one shape per manager. */
  context<S extends SessionSchema>(handle: SessionHandle<S>): SessionContext<S, string>;
  /** Hands an error to `onError`; a throwing `onError` is contained. */
  report(error: SessionError): void;
  /**
   * Tells `onEvent` (if any) of an event of the session `id`, by its ref; a failing hook is reported, never
   * thrown. A revoke elsewhere is one call: `runtime.emit('revoked', id, userId, { reason: 'revokeUser' })`.
   */
  emit(type: SessionEventType, id: string, userId: string | null, details?: SessionEventDetails): void;
}

/** The most `maxSessionsPerUser` and a listing's `limit` may be: what one listing reads, 10 batches of commands. */
export const MAX_USER_SESSIONS = 1000;

/** Whether `value` is a count of a user's sessions: `maxSessionsPerUser`, or a listing's `limit`. */
export const isUserSessionCount = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_USER_SESSIONS;

function seconds(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!(resolved > 0) || !Number.isFinite(resolved)) throw new TypeError(`trpc-session: ${name} must be a positive number of seconds`);
  return resolved;
}

function checkContextKey(key: unknown): string {
  if (typeof key !== 'string' || key === '') throw new TypeError('trpc-session: contextKey must be a non-empty string');
  if (RESERVED_CONTEXT_KEYS.includes(key) || key in Object.prototype) {
    throw new TypeError(
      `trpc-session: contextKey '${key}' would collide with ${key in Object.prototype ? 'a name every object has' : "the options tRPC passes to createContext"}: choose another name`,
    );
  }
  return key;
}

/** `(handle) => ({ [key]: handle })`, with the default key written out: a literal V8 builds fastest. */
function contextFactory(key: string): SessionRuntime['context'] {
  if (key === 'session') return (session) => ({ session });
  return (handle) => ({ [key]: handle });
}

function defaultOnError(error: SessionError): void {
  const reason = error instanceof SessionStoreUnavailableError ? `: ${error.reason}` : '';
  console.error(`[trpc-session] ${error.name}: ${error.message}${reason}`);
}

/**
 * Checks `createSessionManager`'s options and resolves their defaults. Every check of an option lives here
 * (or in the resolver of its own part: cookie, schema, secrets), so that a misconfiguration fails at
 * start-up with a `TypeError` naming the option.
 */
export function resolveOptions<S extends SessionSchema, K extends string, F extends SessionSchema>(options: SessionManagerOptions<S, K, F>): SessionRuntime {
  assertManagerOptions(options);
  const cookie = resolveCookieConfig(options.cookie);
  const idleSeconds = cookie.lifespanSeconds;
  const absoluteSeconds = options.absoluteLifetime === undefined ? null : seconds('absoluteLifetime', options.absoluteLifetime, 0);
  const touchAfterSeconds = options.touchAfter ?? Math.min(60, idleSeconds / 10);
  if (!(touchAfterSeconds >= 0)) throw new TypeError('trpc-session: touchAfter must be zero or more seconds');
  const maxSize = options.maxSize ?? 65_536;
  if (!Number.isInteger(maxSize) || maxSize < 1) throw new TypeError('trpc-session: maxSize must be a positive number of bytes');
  const maxSessionsPerUser = options.maxSessionsPerUser ?? 100;
  if (!isUserSessionCount(maxSessionsPerUser)) throw new TypeError(`trpc-session: \`maxSessionsPerUser\` must be a whole number from 1 to ${MAX_USER_SESSIONS}`);
  const persistMode = options.persist ?? 'after-response';
  if (persistMode !== 'after-response' && persistMode !== 'before-response') {
    throw new TypeError("trpc-session: persist must be 'after-response' or 'before-response'");
  }
  const onError = options.onError ?? defaultOnError;
  const contextKey = options.contextKey === undefined ? 'session' : checkContextKey(options.contextKey);
  const healthTimeoutMs = options.healthTimeout ?? 1000;
  if (!Number.isSafeInteger(healthTimeoutMs) || healthTimeoutMs < 1) {
    throw new TypeError(`trpc-session: \`healthTimeout\` must be a positive whole number of milliseconds (got ${String(healthTimeoutMs)})`);
  }
  const schemaVersion = options.schemaVersion ?? 1;
  const migrations = resolveMigrations(options.migrations, schemaVersion);
  const report = (error: SessionError) => {
    try {
      onError(error);
    } catch {
      // A throwing onError must not take the server down with it.
    }
  };

  const telemetry = options.telemetry ?? false;
  if (typeof telemetry !== 'boolean') throw new TypeError(`trpc-session: \`telemetry\` must be true or false (got ${JSON.stringify(telemetry) ?? String(telemetry)})`);
  const traces = telemetry ? new SessionTelemetry(report) : null;
  const emit = eventEmitter(options.onEvent, report);
  return {
    fields: new FieldSchemas(options.schema, maxSize),
    flash: options.flash === undefined ? null : new FieldSchemas(options.flash, maxSize, 'flash'),
    store: traces === null ? options.store : traces.traced(options.store),
    telemetry: traces,
    cookie,
    cookieValues: new CookieValueCodec(options.secrets),
    policy: {
      idleMs: idleSeconds * 1000,
      absoluteMs: absoluteSeconds === null ? null : absoluteSeconds * 1000,
      touchAfterMs: touchAfterSeconds * 1000,
    },
    maxSize,
    maxSessionsPerUser,
    persistMode,
    trustProxy: options.trustProxy ?? false,
    schemaVersion,
    migrations,
    fieldLocks: new FieldLocks(),
    contextKey,
    healthTimeoutMs,
    trustedOrigins: resolveTrustedOrigins(options.trustedOrigins, cookie.sameSite),
    context: contextFactory(contextKey),
    report,
    emit:
      traces === null
        ? emit
        : (type, id, userId, details) => {
            if (type === 'created') traces.created();
            emit(type, id, userId, details);
          },
  };
}

/**
 * Where a manager keeps its configuration: a registered symbol, not a module-level WeakMap, because a
 * bundler may load this package more than once in one process (Next.js bundles each route with its own copy)
 * while a manager made by one copy is used by the adapters of another.
 */
const RUNTIME = Symbol.for('trpc-session.runtime');

/** Records the configuration behind a session manager, for the adapters; users never see it. */
export function attachRuntime(manager: object, runtime: SessionRuntime): void {
  Object.defineProperty(manager, RUNTIME, { value: runtime });
}

/** The configuration behind a session manager made by `createSessionManager`. */
export function runtimeOf(manager: object): SessionRuntime {
  const runtime = (manager as { [RUNTIME]?: SessionRuntime })[RUNTIME];
  if (runtime === undefined) throw new TypeError('trpc-session: expected a session manager made by createSessionManager');
  return runtime;
}
