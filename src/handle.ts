import { serializeCookie, serializeExpiredCookie, readCookie } from './cookie.js';
import { SessionCorruptError, SessionError, SessionUnavailableError } from './errors.js';
import { createSessionId, redactSessionId } from './id.js';
import type { SessionRuntime } from './manager.js';
import type { SessionSchema } from './schema.js';
import { Session } from './session.js';
import type { SessionTransport } from './transport.js';

const NO_REQUEST_REASON =
  'No HTTP request is attached to this context (a server-side caller?), so no session can be started. ' +
  'Create the context with a request, or see `createCallerContext` for calls made from the server.';

/**
 * `ctx.session`: the lazy, per-request handle. Creating it costs nothing; the store and the cookie are
 * touched only when a procedure calls one of its methods. Calls batched into one HTTP request share it: one
 * load, one write, whatever the number of calls.
 */
export class SessionHandle<S extends SessionSchema> {
  readonly #runtime: SessionRuntime;
  readonly #transport: SessionTransport | null;
  #loading: Promise<Session<S> | null> | undefined;
  #starting: Promise<Session<S>> | undefined;
  /** The request carried a session cookie (valid or not), which `destroy()` must expire. */
  #cookieSent = false;
  #committing = false;

  /** @internal */
  constructor(runtime: SessionRuntime, transport: SessionTransport | null) {
    this.#runtime = runtime;
    this.#transport = transport;
  }

  /**
   * Resumes the client's session, or resolves to `null` when it has none (no cookie, a malformed or forged
   * one, or an expired session). Never creates a session; sets the cookie only to extend the expiry of the
   * session the client already has (when this load refreshed it), so the cookie follows the record.
   */
  load(): Promise<Session<S> | null> {
    this.#loading ??= this.#resume();
    return this.#loading;
  }

  /**
   * Resumes the client's session or creates one, and sets the session cookie. Concurrent calls resolve to
   * the same session. A new session is written to the store when the response is written, not before.
   */
  start(): Promise<Session<S>> {
    this.#starting ??= this.#begin();
    return this.#starting;
  }

  /** Writes the session's changes now, instead of after the response. Does nothing without a session. */
  async persist(): Promise<void> {
    const session = await this.#current();
    await session?.flush();
  }

  /**
   * Gives the session a new ID, keeping its data: the new record is written and the old one removed at once,
   * and the cookie is replaced. Call it when the user's privileges change (login) to defeat session fixation.
   * Without a session, starts one.
   */
  async regenerate(): Promise<Session<S>> {
    const session = await this.load();
    if (session === null) return this.start();
    this.#assertCookieSettable();
    await session.moveTo(createSessionId());
    this.#starting = Promise.resolve(session);
    this.#setSessionCookie(session);
    return session;
  }

  /** Removes the session from the store and expires its cookie. A later `start()` creates a new session. */
  async destroy(): Promise<void> {
    const session = await (this.#starting ?? this.load());
    if (session === null && !this.#cookieSent) return;
    this.#assertCookieSettable();
    await session?.destroy();
    this.#loading = Promise.resolve(null);
    this.#starting = undefined;
    this.#cookieSent = false;
    this.#transport!.setCookie(serializeExpiredCookie(this.#runtime.cookie, this.#transport!.secure));
  }

  /** The session this request has already started or loaded, if any; a failed start already threw. */
  async #current(): Promise<Session<S> | null> {
    try {
      return (await (this.#starting ?? this.#loading)) ?? null;
    } catch {
      return null;
    }
  }

  async #resume(): Promise<Session<S> | null> {
    const transport = this.#transport;
    if (transport === null) return null;
    const value = readCookie(transport.cookieHeader, this.#runtime.cookie.name);
    if (value === undefined) return null;
    this.#cookieSent = true;
    // A malformed or forged value is ignored without a store lookup.
    const identity = this.#runtime.cookieValues.decode(value);
    if (identity === null) return null;
    this.#registerCommit();
    const result = await this.#runtime.store.load(identity.id, this.#runtime.policy, Date.now());
    if (result.status === 'corrupt') {
      this.#runtime.report(new SessionCorruptError(redactSessionId(identity.id), result.reason));
      return null;
    }
    if (result.status === 'missing') return null;
    const session = new Session<S>(this.#runtime, identity.id, result.record);
    // The record's expiry was extended (or the cookie is signed with an old secret): the cookie follows now,
    // while headers can still be set, or the browser would drop it while the record lives on.
    const cookieStale = result.record.refreshed || !identity.current;
    if (cookieStale && transport.cookieBlockedReason === null) this.#setSessionCookie(session);
    return session;
  }

  async #begin(): Promise<Session<S>> {
    if (this.#transport === null) throw new SessionUnavailableError(NO_REQUEST_REASON);
    const existing = await this.load();
    if (existing !== null) return existing;
    this.#assertCookieSettable();
    this.#registerCommit();
    // A new session reads nothing from the store: an ID the client sent is never adopted.
    const session = new Session<S>(this.#runtime, createSessionId(), null);
    this.#setSessionCookie(session);
    return session;
  }

  #assertCookieSettable(): void {
    if (this.#transport === null) throw new SessionUnavailableError(NO_REQUEST_REASON);
    if (this.#transport.cookieBlockedReason !== null) throw new SessionUnavailableError(this.#transport.cookieBlockedReason);
  }

  #setSessionCookie(session: Session<S>): void {
    const transport = this.#transport!;
    // Rounded up: a cookie that outlives its record by under a second finds nothing, while one that expired
    // first would end a session early (a 2 s lifetime read after 1 ms must still say 2).
    const maxAgeSeconds = Math.max(1, Math.ceil(session.ttlAt(Date.now()) / 1000));
    transport.setCookie(serializeCookie(this.#runtime.cookie, this.#runtime.cookieValues.encode(session.id), maxAgeSeconds, transport.secure));
  }

  #registerCommit(): void {
    if (this.#committing) return;
    this.#committing = true;
    this.#transport!.onCommit(() => this.#commit());
  }

  /**
   * The adapter's write after (or before) the response. Never rejects: a failure is reported through
   * `onError` and resolved, so an adapter holding the response can refuse to report success.
   */
  async #commit(): Promise<SessionError | null> {
    try {
      const session = await this.#current();
      await session?.flush();
      return null;
    } catch (error) {
      const failure = error instanceof SessionError ? error : new SessionError('INTERNAL_SERVER_ERROR', String(error), error);
      this.#runtime.report(failure);
      return failure;
    }
  }
}
