import { readCookie, serializeCookie, serializeExpiredCookie } from './cookie.js';
import { SessionForbiddenError, SessionGoneError, SessionUnavailableError } from './errors.js';
import { createSessionId, redactSessionId, type CookieIdentity } from './id.js';
import { loadSession, newSession, type SessionLifecycle } from './lifecycle.js';
import type { SessionRuntime } from './options.js';
import { crossOriginRefusal } from './origin-check.js';
import type { SessionSchema } from './schema.js';
import type { RegenerateOptions, Session, SessionHandle } from './session-api.js';
import type { RecordLifespan } from './stores/store.js';
import { ATTRIBUTE } from './telemetry.js';
import type { SessionTransport } from './transport.js';

const NO_REQUEST_REASON =
  'No HTTP request is attached to this context (a server-side caller?), so no session can be started. ' +
  'Create the context with a request, or see `createCallerContext` for calls made from the server.';

/** What a handle's client can do: a transport, less the end of a response that the commit module watches. */
export type SessionClient = Omit<SessionTransport, 'onEnd'>;

/**
 * `ctx.session` of one request (or one call): the lazy handle. It loads, starts, moves and destroys the
 * session and keeps the cookie in step; when the changes are written is the commit module's decision.
 */
export class RequestHandle<S extends SessionSchema, C extends SessionClient = SessionClient> implements SessionHandle<S> {
  readonly #runtime: SessionRuntime;
  readonly #client: C | null;
  /**
   * Told once, when this request first has a session to write (a valid cookie, or a new session). A plain
   * function given the handle's own parts, not a closure: a handle is built for every request, touched or not.
   */
  readonly #onOpen: ((handle: RequestHandle<S, C>, runtime: SessionRuntime, client: C) => void) | undefined;
  #loading: Promise<SessionLifecycle<S> | null> | undefined;
  #starting: Promise<SessionLifecycle<S>> | undefined;
  /** The request carried a session cookie (valid or not), which `destroy()` must expire. */
  #cookieSent = false;
  /**
   * The cookie names a session another request has just moved to a new ID (`regenerate()`): this request's
   * cookie is older than that request's response, so no cookie is set over the new one.
   */
  #movedAway: string | null = null;
  #opened = false;
  /** Why this request may not change the session (another origin's), computed once: undefined until then. */
  #changesRefused: string | null | undefined;

  constructor(runtime: SessionRuntime, client: C | null, onOpen?: (handle: RequestHandle<S, C>, runtime: SessionRuntime, client: C) => void) {
    this.#runtime = runtime;
    this.#client = client;
    this.#onOpen = onOpen;
  }

  load(): Promise<Session<S> | null> {
    this.#loading ??= this.#resume();
    return this.#loading;
  }

  start(): Promise<Session<S>> {
    this.#starting ??= this.#begin();
    return this.#starting;
  }

  async persist(): Promise<void> {
    const session = await this.#current();
    await session?.flush();
  }

  regenerate(options?: RegenerateOptions): Promise<Session<S>> {
    const telemetry = this.#runtime.telemetry;
    if (telemetry === null) return this.#regenerate(options);
    return telemetry.span('regenerate', {}, async (span) => {
      const session = await this.#regenerate(options);
      span?.setAttribute(ATTRIBUTE.ref, session.ref);
      return session;
    });
  }

  async #regenerate(options: RegenerateOptions | undefined): Promise<SessionLifecycle<S>> {
    const lifespan = chosenLifespan(options);
    this.#assertMayChange();
    let session = await (this.#starting ?? this.#loadLifecycle());
    if (session === null) {
      const began = this.#starting === undefined;
      session = await (this.#starting ??= this.#begin(lifespan));
      if (lifespan === undefined || began) return session;
      // Started meanwhile by another call: a new session takes the lifespan before its first write, and a
      // session written since, or being written, moves to take it.
      if (session.adoptLifespan(lifespan)) {
        this.#setSessionCookie(session);
        return session;
      }
    }
    this.#assertCookieSettable();
    await session.moveTo(createSessionId(), lifespan);
    this.#starting = Promise.resolve(session);
    this.#setSessionCookie(session);
    return session;
  }

  destroy(): Promise<void> {
    const telemetry = this.#runtime.telemetry;
    return telemetry === null ? this.#destroy() : telemetry.span('destroy', {}, () => this.#destroy());
  }

  async #destroy(): Promise<void> {
    const session = await (this.#starting ?? this.#loadLifecycle());
    if (session === null && !this.#cookieSent) return;
    this.#assertMayChange();
    this.#assertNotMovedAway();
    this.#assertCookieSettable();
    await session?.destroy();
    this.#loading = Promise.resolve(null);
    this.#starting = undefined;
    this.#cookieSent = false;
    this.#client!.setCookie(serializeExpiredCookie(this.#runtime.cookie, this.#client!.secure));
  }

  /** Whether this request has a session whose changes may need writing. */
  get opened(): boolean {
    return this.#opened;
  }

  /** Writes the request's changes, if it has a session. Rejects with the write's error. */
  commit(): Promise<void> {
    // Not `#current()`: this runs for every request with a session, and each async step costs a promise turn.
    const session = this.#starting ?? this.#loading;
    return session === undefined ? NOTHING_TO_WRITE : session.then(flushSession, noSession);
  }

  #loadLifecycle(): Promise<SessionLifecycle<S> | null> {
    this.#loading ??= this.#resume();
    return this.#loading;
  }

  /** The session this request has already started or loaded, if any; a failed start already threw. */
  async #current(): Promise<SessionLifecycle<S> | null> {
    try {
      return (await (this.#starting ?? this.#loading)) ?? null;
    } catch {
      return null;
    }
  }

  #open(): void {
    if (this.#opened) return;
    this.#opened = true;
    this.#onOpen?.(this, this.#runtime, this.#client!);
  }

  /** The client's session, if its cookie names one; without a cookie (a new visitor) no async step is taken. */
  #resume(): Promise<SessionLifecycle<S> | null> {
    const client = this.#client;
    if (client === null) return NO_SESSION;
    const value = readCookie(client.cookieHeader, this.#runtime.cookie.name);
    if (value === undefined) return NO_SESSION;
    this.#cookieSent = true;
    // A malformed or forged value is ignored without a store lookup.
    const identity = this.#runtime.cookieValues.decode(value);
    if (identity === null) return NO_SESSION;
    this.#open();
    return this.#resumeFrom(identity, client.cookieBlockedReason === null);
  }

  async #resumeFrom(identity: CookieIdentity, canSetCookie: boolean): Promise<SessionLifecycle<S> | null> {
    const loaded = await loadSession<S>(this.#runtime, identity.id, canSetCookie);
    if (loaded === 'moved') this.#movedAway = identity.id;
    if (loaded === null || loaded === 'moved') return null;
    // The record's expiry was extended (or the cookie is signed with an old secret): the cookie follows now,
    // while headers can still be set, or the browser would drop it while the record lives on.
    const cookieStale = loaded.refreshed || !identity.current;
    if (cookieStale && canSetCookie) this.#setSessionCookie(loaded.session);
    return this.#guarded(loaded.session);
  }

  /** Resumes the client's session or creates one, with its own lifespan when `regenerate` chose one. */
  async #begin(lifespan?: Exclude<RecordLifespan, null>): Promise<SessionLifecycle<S>> {
    if (this.#client === null) throw new SessionUnavailableError(NO_REQUEST_REASON);
    const existing = await this.#loadLifecycle();
    if (existing !== null) return existing;
    this.#assertNotMovedAway();
    this.#assertCookieSettable();
    // A new session reads nothing from the store: an ID the client sent is never adopted.
    const created = newSession<S>(this.#runtime, createSessionId());
    const session = this.#guarded(created instanceof Promise ? await created : created);
    if (lifespan !== undefined) session.adoptLifespan(lifespan);
    this.#open();
    this.#setSessionCookie(session);
    return session;
  }

  /**
   * A fresh session's cookie (or an expired one) must not reach a client whose session was just moved: set
   * last, it would replace the new ID (log a user out just after logging in).
   */
  #assertNotMovedAway(): void {
    if (this.#movedAway !== null) throw new SessionGoneError(redactSessionId(this.#movedAway));
  }

  /** Why this request may not change the session, or null: decided by the core from the adapter's facts. */
  #refusal(): string | null {
    if (this.#changesRefused === undefined) this.#changesRefused = this.#client === null ? null : crossOriginRefusal(this.#runtime.trustedOrigins, this.#client);
    return this.#changesRefused;
  }

  /** A session handed to a request from another origin refuses its changes. */
  #guarded(session: SessionLifecycle<S>): SessionLifecycle<S> {
    const refusal = this.#refusal();
    if (refusal !== null) session.refuseChanges(refusal);
    return session;
  }

  #assertMayChange(): void {
    const refusal = this.#refusal();
    if (refusal !== null) throw new SessionForbiddenError(refusal);
  }

  #assertCookieSettable(): void {
    if (this.#client === null) throw new SessionUnavailableError(NO_REQUEST_REASON);
    if (this.#client.cookieBlockedReason !== null) throw new SessionUnavailableError(this.#client.cookieBlockedReason);
  }

  #setSessionCookie(session: SessionLifecycle<S>): void {
    const client = this.#client!;
    // Rounded up: a cookie that outlives its record by under a second finds nothing, while one that expired
    // first would end a session early (a 2 s lifetime read after 1 ms must still say 2).
    const maxAgeSeconds = session.browserSession ? undefined : Math.max(1, Math.ceil(session.ttlAt(Date.now()) / 1000));
    client.setCookie(serializeCookie(this.#runtime.cookie, this.#runtime.cookieValues.encode(session.id), maxAgeSeconds, client.secure));
  }
}

const NOTHING_TO_WRITE: Promise<void> = Promise.resolve();
const NO_SESSION: Promise<null> = Promise.resolve(null);
const flushSession = (session: SessionLifecycle<SessionSchema> | null) => session?.flush();
/** A start or load that failed has nothing to write: it already threw to its caller. */
const noSession = () => undefined;

/** The lifespan `regenerate` chose, in the store's terms (ms, or 'browser'); undefined: keep the session's. */
function chosenLifespan(options: RegenerateOptions | undefined): Exclude<RecordLifespan, null> | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new TypeError('trpc-session: regenerate() takes an options object, such as { lifespan: 2592000 }');
  const { lifespan } = options;
  if (lifespan === undefined || lifespan === 'browser') return lifespan;
  if (typeof lifespan !== 'number' || !Number.isSafeInteger(lifespan) || lifespan < 1) {
    throw new TypeError(`trpc-session: regenerate's lifespan must be a whole number of seconds, at least 1, or 'browser' (got ${JSON.stringify(lifespan) ?? String(lifespan)})`);
  }
  return lifespan * 1000;
}
