import type * as z from 'zod/v4';
import type { NoFlash, SessionSchema } from './schema.js';

/** The names of a schema's fields. */
export type SessionKey<S extends SessionSchema> = keyof S['shape'] & string;
/** What `get` returns for a field: the schema's output type, defaults applied. */
export type SessionValue<S extends SessionSchema, K extends SessionKey<S>> = z.output<S['shape'][K]>;
/** What `put` accepts for a field: the schema's input type. */
export type SessionInput<S extends SessionSchema, K extends SessionKey<S>> = z.input<S['shape'][K]>;

/** The names of a flash schema's values. */
export type FlashKey<F extends SessionSchema> = keyof F['shape'] & string;

/**
 * `session.flash`: values set in one request and read once in a later one (a notice after a redirect, a form
 * error), typed by the manager's `flash` schema. They live in the session's record beside its data, count
 * towards `maxSize`, follow the session through `regenerate()` and end with it.
 */
export interface SessionFlash<F extends SessionSchema> {
  /**
   * Sets a flash value, after validating it against its schema (throws `SessionValidationError` or
   * `SessionSerializationError`, leaving the session unchanged). Written with the request's other changes.
   */
  set<K extends FlashKey<F>>(key: K, value: z.input<F['shape'][K]>): void;
  /**
   * Takes a flash value out of the session: resolves to it, or to `undefined` when there is none. Exactly one of
   * any number of concurrent requests that take the same value gets it (an atomic compare-and-delete in the
   * store, one round trip; none when the session has no such value). A request that takes none leaves them in
   * place.
   */
  take<K extends FlashKey<F>>(key: K): Promise<z.output<F['shape'][K]> | undefined>;
}

/** Metadata kept beside a session's data. */
export interface SessionMeta {
  createdAt: Date;
  /** When the session was last written or had its expiry refreshed (see `touchAfter`). */
  lastUsedAt: Date;
  /** The `schemaVersion` the session was last written with. */
  schemaVersion: number;
}

/**
 * A session's data: typed access to the fields of the schema. Reads are synchronous (the whole session was
 * loaded once, and each field is decoded and validated when first read); writes are validated at once and
 * stored when the session is persisted. Objects read from the session may be changed in place: changes are
 * noticed and validated when the session is persisted.
 */
export interface SessionData<S extends SessionSchema> {
  /** The field's value; its default (or undefined) when the session does not have it. */
  get<K extends SessionKey<S>>(key: K): SessionValue<S, K>;
  /**
   * Sets a field, after validating `value` against the field's schema (throws `SessionValidationError`) and
   * checking it can be stored (throws `SessionSerializationError`). The session is unchanged when it throws.
   */
  put<K extends SessionKey<S>>(key: K, value: SessionInput<S, K>): void;
  /** Whether the session has the field set (a default does not count). */
  has(key: SessionKey<S>): boolean;
  /** Removes a field; `get` returns its default again. */
  delete(key: SessionKey<S>): void;
  /** Removes every field. */
  clear(): void;
  /** A typed snapshot of every field, defaults applied. */
  all(): z.output<S>;
  /**
   * Reads, changes and writes one field atomically in the store, immediately: `fn` gets the current value
   * and returns the new one; if another request changed the field in between, `fn` runs again on the newer
   * value. Use it where a concurrent read-modify-write must not lose an update (a counter, a quantity).
   * `fn` must be free of side effects, since it may run more than once. Resolves to the value written.
   */
  update<K extends SessionKey<S>>(key: K, fn: (current: SessionValue<S, K>) => SessionInput<S, K>): Promise<SessionValue<S, K>>;
}

/**
 * A started session: its ID and its typed data. Obtained from `ctx.session.start()` or `load()`; persisted by
 * `ctx.session.persist()` or automatically (after the response, or before it in `'before-response'` mode).
 */
export interface Session<S extends SessionSchema, F extends SessionSchema = NoFlash> {
  /** The session ID. It changes when the session is regenerated. Never log it whole. */
  readonly id: string;
  readonly meta: SessionMeta;
  /** The user this session is bound to by {@link Session.bindUser}, or `null`. */
  readonly userId: string | null;
  /**
   * A reference to this session that is safe to show the client, unlike its ID: the one
   * `sessions.userSessions()` lists it by, so an app can mark "this device". It changes with the ID.
   */
  readonly ref: string;
  /** The session's fields. */
  readonly data: SessionData<S>;
  /** Values read once, typed by the manager's `flash` schema. */
  readonly flash: SessionFlash<F>;
  /**
   * Binds the session to a user, so that `sessions.userSessions(userId)` lists it and
   * `sessions.revokeUser(userId)`, `revokeSession` and `revokeOtherSessions` end it. Call it at login, after
   * `ctx.session.regenerate()`. It writes at once (a new session is written now, with its data): once it
   * resolves, the revokes find the session. The binding, and the `device` given with it, follow the session
   * through `regenerate()` and end with it. Binding to another user moves it (and drops the device unless
   * given again); binding again to the same user with a `device` replaces the device. A user past the
   * manager's `maxSessionsPerUser` loses the session that expires first (never this one), told as `revoked`.
   *
   * Throws a `TypeError` for an empty user ID, or a `device` part that is not a string within its limit.
   */
  bindUser(userId: string, options?: BindUserOptions): Promise<void>;
}

/**
 * `ctx.session`: the lazy, per-request handle. Creating it costs nothing; the store and the cookie are
 * touched only when a procedure calls one of its methods. Calls batched into one HTTP request share it: one
 * load, one write, whatever the number of calls.
 */
export interface SessionHandle<S extends SessionSchema, F extends SessionSchema = NoFlash> {
  /**
   * Resumes the client's session, or resolves to `null` when it has none (no cookie, a malformed or forged
   * one, or an expired session). Never creates a session; sets the cookie only to extend the expiry of the
   * session the client already has (when this load refreshed it), so the cookie follows the record.
   */
  load(): Promise<Session<S, F> | null>;
  /**
   * Resumes the client's session or creates one, and sets the session cookie. Concurrent calls resolve to
   * the same session. A new session is written to the store with the request's other changes, not before.
   */
  start(): Promise<Session<S, F>>;
  /** Writes the session's changes now. Does nothing without a session. */
  persist(): Promise<void>;
  /**
   * Gives the session a new ID, keeping its data: the new record is written and the old one removed at once,
   * and the cookie is replaced. Call it when the user's privileges change (login) to defeat session fixation.
   * Without a session, starts one. `lifespan` gives the session its own lifespan ("remember me"); without it,
   * the session keeps the one it has.
   */
  regenerate(options?: RegenerateOptions): Promise<Session<S, F>>;
  /** Removes the session from the store and expires its cookie. A later `start()` creates a new session. */
  destroy(): Promise<void>;
}

/** Options of {@link SessionHandle.regenerate}. */
export interface RegenerateOptions {
  /**
   * The session's own idle lifespan from now on, chosen at login ("remember me"): whole seconds (at least 1),
   * which the cookie's `Max-Age` and the store's TTL follow in place of `cookie.lifespan`; or `'browser'`, a
   * cookie without `Max-Age` (the browser drops it when it closes) and the manager's lifespan on the server.
   * Stored with the session, it holds through every refresh and later `regenerate()`; `absoluteLifetime` still
   * caps it. A `TypeError` for anything else.
   * @default the lifespan the session has (the manager's, for a new session)
   */
  lifespan?: number | 'browser' | undefined;
}

/**
 * The context `createContext` returns: the session handle under the manager's `contextKey` (`session` by
 * default, so `ctx.session`). Spread it into your own.
 */
export type SessionContext<S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> = { [P in K]: SessionHandle<S, F> };

/**
 * What a user needs to recognise one of their devices in a "your devices" list, recorded by `bindUser` when
 * the app opts in. Every part is optional and stored as given (one given as `undefined` is left out, so an
 * optional input can be passed as it is); never put the session ID in one.
 */
export interface DeviceInfo {
  /** A name for the device, from the user or the app ("Work laptop"): at most 100 characters. */
  label?: string | undefined;
  /** The browser's `User-Agent` header: at most 512 characters. */
  userAgent?: string | undefined;
  /** The client's IP address as the app sees it: at most 64 characters. */
  ip?: string | undefined;
}

/** The options of {@link Session.bindUser}. */
export interface BindUserOptions {
  /** What identifies the device, listed by `sessions.userSessions`. None is recorded without it. */
  device?: DeviceInfo | undefined;
}

/** One of a user's sessions, as `sessions.userSessions` lists it: nothing in it opens the session. */
export interface UserSessionInfo {
  /**
   * The session's `ref`: safe to send to the client, equal to `session.ref` on the device that holds it, and
   * what `sessions.revokeSession(userId, ref)` takes.
   */
  ref: string;
  createdAt: Date;
  /** When the session was last written or had its expiry refreshed (see `touchAfter`). */
  lastUsedAt: Date;
  /** The device as `bindUser` recorded it, or `null`. */
  device: DeviceInfo | null;
  /** Whether this is the session passed as `current` to `userSessions`: the device the list is shown on. */
  current: boolean;
}

/** The options of `sessions.userSessions`. */
export interface UserSessionsOptions {
  /** The session of the request asking (or `null`): its entry is listed with `current: true`. */
  current?: { readonly ref: string } | null;
  /**
   * The most sessions listed: the most recently used ones (strictly, those that expire last: the same for
   * sessions of one lifespan). A whole number from 1 to 1000; the call rejects with a `TypeError` otherwise.
   * @default the manager's `maxSessionsPerUser` (100 unless set): every session the user can have
   */
  limit?: number;
}

/**
 * What `sessions.health()` found: the store answered (`latencyMs`: how long it took), or not, and why. The
 * `reason` may name the store's host and port: log it, do not send it to the prober's clients.
 */
export type SessionStoreHealth = { ok: true; latencyMs: number } | { ok: false; reason: string };
