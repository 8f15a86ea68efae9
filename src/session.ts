import type * as z from 'zod';
import { decodeValue, encodeValue, findUnstorable, storedCopy } from './codec.js';
import {
  SessionConflictError,
  SessionError,
  SessionFieldDroppedError,
  SessionGoneError,
  SessionSerializationError,
  SessionTooLargeError,
  SessionValidationError,
} from './errors.js';
import { redactSessionId, sessionRef } from './id.js';
import type { SessionRuntime } from './manager.js';
import type { SessionSchema } from './schema.js';
import { remainingLifetime, type StoredRecord } from './stores/store.js';

/** The names of a schema's fields. */
export type SessionKey<S extends SessionSchema> = keyof S['shape'] & string;
/** What `get` returns for a field: the schema's output type, defaults applied. */
export type SessionValue<S extends SessionSchema, K extends SessionKey<S>> = z.output<S['shape'][K]>;
/** What `put` accepts for a field: the schema's input type. */
export type SessionInput<S extends SessionSchema, K extends SessionKey<S>> = z.input<S['shape'][K]>;

/** `update` retries this many times when other requests keep changing the same field. */
const MAX_UPDATE_ATTEMPTS = 50;

/** One field's state in this request. */
interface FieldState {
  value: unknown;
  /** Set in the session (not just its default). */
  present: boolean;
  /** The bytes the store holds for this field, as far as this request knows; undefined when absent there. */
  stored: Uint8Array | undefined;
  /** The encoding of `value` when it was handed out, to notice changes made to it in place. */
  snapshot: Uint8Array | undefined;
  /** An object handed out by `get`, which may be changed in place. */
  observed: boolean;
  /** Bumped by every put or delete, so a write only marks clean what it actually wrote. */
  version: number;
  /** Put or deleted since the last write. */
  changed: boolean;
}

/** The field changes a write carries, with what they were computed from. */
export interface PendingChanges {
  set: Map<string, Uint8Array>;
  remove: string[];
  size: number;
  versions: Map<string, number>;
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a === b || (a !== undefined && b !== undefined && Buffer.compare(a, b) === 0);

const isObject = (value: unknown) => typeof value === 'object' && value !== null;

/**
 * A deep copy, as the store would give it back, for values that zod may share between parses: a `.catch()`
 * value is the same object every time, and a `.default()` value is copied only shallowly. Changed in place, a
 * shared value would show in every other session.
 */
const unshared = (value: unknown) => (isObject(value) ? storedCopy(value) : value);

/**
 * A session's data: typed access to the fields of the schema. Reads are synchronous (the whole session was
 * loaded once, and each field is decoded and validated when first read); writes are validated at once and
 * stored when the session is persisted. Objects read from the session may be changed in place: changes are
 * noticed and validated when the session is persisted.
 */
export class SessionData<S extends SessionSchema> {
  readonly #session: Session<S>;
  readonly #runtime: SessionRuntime;
  readonly #fields = new Map<string, FieldState>();
  /**
   * Stored fields of the schema not read yet, as bytes: a request pays for decoding and validating only the
   * fields it uses (a basket it never looks at costs nothing but its bytes).
   */
  readonly #unread: Map<string, Uint8Array>;
  /** Stored fields the schema no longer has, or that could not be read: removed on the next write. */
  readonly #stale = new Set<string>();

  /** @internal `stored` becomes this object's own. */
  constructor(session: Session<S>, runtime: SessionRuntime, stored: Map<string, Uint8Array> | null) {
    this.#session = session;
    this.#runtime = runtime;
    this.#unread = stored ?? new Map();
    for (const key of this.#unread.keys()) {
      if (runtime.fields.has(key)) continue;
      this.#unread.delete(key);
      this.#drop(key, 'the schema has no such field');
    }
  }

  /** The field's value; its default (or undefined) when the session does not have it. */
  get<K extends SessionKey<S>>(key: K): SessionValue<S, K> {
    const state = this.#field(key);
    if (isObject(state.value)) state.observed = true;
    return state.value as SessionValue<S, K>;
  }

  /**
   * Sets a field, after validating `value` against the field's schema (throws `SessionValidationError`) and
   * checking it can be stored (throws `SessionSerializationError`). The session is unchanged when it throws.
   */
  put<K extends SessionKey<S>>(key: K, value: SessionInput<S, K>): void {
    this.#session.assertUsable();
    const state = this.#field(key);
    state.value = this.#validate(key, value);
    this.#changed(state, true);
  }

  /** Whether the session has the field set (a default does not count). */
  has(key: SessionKey<S>): boolean {
    return this.#field(key).present;
  }

  /** Removes a field; `get` returns its default again. */
  delete(key: SessionKey<S>): void {
    this.#session.assertUsable();
    const state = this.#field(key);
    Object.assign(state, this.#defaultOf(key));
    state.observed = false;
    this.#changed(state, false);
  }

  /** Removes every field. */
  clear(): void {
    for (const key of this.#runtime.fields.keys) this.delete(key);
  }

  /** A typed snapshot of every field, defaults applied. */
  all(): z.output<S> {
    const all: Record<string, unknown> = {};
    for (const key of this.#runtime.fields.keys) all[key] = this.get(key);
    return all as z.output<S>;
  }

  /**
   * Reads, changes and writes one field atomically in the store, immediately: `fn` gets the current value
   * and returns the new one; if another request changed the field in between, `fn` runs again on the newer
   * value. Use it where a concurrent read-modify-write must not lose an update (a counter, a quantity).
   * `fn` must be free of side effects, since it may run more than once. Resolves to the value written.
   */
  async update<K extends SessionKey<S>>(key: K, fn: (current: SessionValue<S, K>) => SessionInput<S, K>): Promise<SessionValue<S, K>> {
    this.#session.assertUsable();
    if (!this.#session.persisted) {
      // Nobody else can see a session that was never written: a local change is atomic.
      const state = this.#field(key);
      state.value = this.#validate(key, fn(state.value as SessionValue<S, K>));
      this.#changed(state, true);
      return state.value as SessionValue<S, K>;
    }
    return this.#runtime.fieldLocks.run(`${this.#session.id}\n${key}`, async (shared) => {
      for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
        if (shared.latest !== undefined && !sameBytes(shared.latest ?? undefined, this.#field(key).stored)) {
          this.#fields.set(key, this.#fromStored(key, shared.latest));
        }
        const state = this.#field(key);
        const next = this.#validate(key, fn(state.value as SessionValue<S, K>));
        const bytes = encodeValue(next);
        this.#session.assertFits(this.#sizeWith(key, bytes));
        const now = Date.now();
        const result =
          this.#session.ttlAt(now) <= 0
            ? ({ status: 'gone' } as const)
            : await this.#runtime.store.compareAndSet(this.#session.id, { field: key, expected: state.stored ?? null, next: bytes, now });
        if (result.status === 'gone') throw new SessionGoneError(redactSessionId(this.#session.id));
        if (result.status === 'ok') {
          shared.latest = bytes;
          Object.assign(state, { value: next, present: true, stored: bytes, snapshot: bytes, changed: false, version: state.version + 1 });
          return next as SessionValue<S, K>;
        }
        shared.latest = result.current;
        this.#fields.set(key, this.#fromStored(key, result.current));
        // Another process won the race: back off a little, at random, so the contenders spread out.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attempt, 20)));
      }
      throw new SessionConflictError(key, MAX_UPDATE_ATTEMPTS);
    });
  }

  /** Records a put or delete for the next write; the version lets that write mark clean only what it carried. */
  #changed(state: FieldState, present: boolean): void {
    state.present = present;
    state.changed = true;
    state.version++;
  }

  #field(key: string): FieldState {
    let state = this.#fields.get(key);
    if (state === undefined) {
      if (!this.#runtime.fields.has(key)) throw new SessionValidationError(key, 'the schema has no such field');
      const bytes = this.#unread.get(key);
      if (bytes !== undefined) this.#unread.delete(key);
      state = this.#fromStored(key, bytes ?? null);
      this.#fields.set(key, state);
    }
    return state;
  }

  #fromStored(key: string, bytes: Uint8Array | null): FieldState {
    if (bytes !== null) {
      const value = this.#readStored(key, bytes);
      if (value !== undefined) {
        return { value: value.parsed, present: true, stored: bytes, snapshot: bytes, observed: false, version: 0, changed: false };
      }
    }
    // Built property by property in the same order as above: a spread here made every field state a
    // slow-path object clone (a third of the CPU of a read of an unset field).
    const { value, snapshot } = this.#defaultOf(key);
    return { value, present: false, stored: bytes ?? undefined, snapshot, observed: false, version: 0, changed: false };
  }

  /** The field's default, unshared, with its encoding to notice changes made to it in place. */
  #defaultOf(key: string): { value: unknown; snapshot: Uint8Array | undefined } {
    const value = this.#runtime.fields.defaultOf(key);
    if (!isObject(value)) return { value, snapshot: undefined };
    return { value: storedCopy(value), snapshot: encodeValue(value) };
  }

  /** Decodes and validates a stored field; reports and returns undefined when it cannot be used. */
  #readStored(key: string, bytes: Uint8Array): { parsed: unknown } | undefined {
    let decoded: unknown;
    try {
      decoded = decodeValue(bytes);
      // msgpackr reads some invalid bytes (0xc1) as placeholder objects rather than failing.
      if (findUnstorable(decoded, key) !== null) throw new Error('not a value a session can hold');
    } catch {
      // Not msgpackr's message: it quotes the start of what it decoded, which is session data.
      this.#drop(key, 'its bytes are not valid msgpack');
      return undefined;
    }
    const parsed = this.#runtime.fields.parse(key, decoded);
    if (!parsed.ok) {
      this.#drop(key, `it no longer matches the schema: ${parsed.issues}`);
      return undefined;
    }
    return { parsed: unshared(parsed.value) };
  }

  #drop(key: string, reason: string) {
    this.#stale.add(key);
    this.#runtime.report(new SessionFieldDroppedError(redactSessionId(this.#session.id), key, reason));
  }

  /** Validates a value for a field `#field` has already accepted. */
  #validate(key: string, value: unknown): unknown {
    const parsed = this.#runtime.fields.parse(key, value);
    if (!parsed.ok) {
      const { unstorable } = parsed;
      throw unstorable ? new SessionSerializationError(key, unstorable.path, unstorable.reason) : new SessionValidationError(key, parsed.issues);
    }
    const unstorable = findUnstorable(parsed.value, key);
    if (unstorable !== null) throw new SessionSerializationError(key, unstorable.path, unstorable.reason);
    return unshared(parsed.value);
  }

  #sizeWith(key: string, bytes: Uint8Array): number {
    let size = bytes.length;
    for (const [other, state] of this.#fields) if (other !== key && state.stored !== undefined) size += state.stored.length;
    for (const unread of this.#unread.values()) size += unread.length;
    return size;
  }

  /**
   * @internal
   * The changes since the last write: fields put or deleted, objects changed in place (validated now),
   * stale fields to remove. With `everything`, every present field, as a new record needs.
   */
  pendingChanges(everything: boolean): PendingChanges {
    // A new record (a regenerated session) carries only fields that are still valid: read them all first.
    if (everything) for (const key of [...this.#unread.keys()]) this.#field(key);
    const changes: PendingChanges = { set: new Map(), remove: [...this.#stale], size: 0, versions: new Map() };
    for (const unread of this.#unread.values()) changes.size += unread.length;
    for (const [key, state] of this.#fields) {
      if (state.observed && !sameBytes(encodeValue(state.value), state.snapshot)) {
        // An object read from the session was changed in place (after a put, delete or persist too): validate it
        // as a put would have, keeping the object the procedure holds so that its later changes are seen too.
        this.#validate(key, state.value);
        this.#changed(state, true);
      }
      if (state.changed) {
        changes.versions.set(key, state.version);
        if (!state.present) {
          // Removed whatever this request saw, so a concurrent writer's value goes too.
          changes.remove.push(key);
          continue;
        }
      }
      if (!state.present) continue;
      const bytes = state.changed ? encodeValue(state.value) : state.stored!;
      changes.size += bytes.length;
      if (everything || state.changed) changes.set.set(key, bytes);
    }
    return changes;
  }

  /** @internal Marks as stored what `changes` wrote, unless a field changed again since. */
  written(changes: PendingChanges): void {
    for (const key of changes.remove) {
      this.#stale.delete(key);
      const state = this.#fields.get(key);
      if (state !== undefined && changes.versions.get(key) === state.version) Object.assign(state, { stored: undefined, changed: false });
    }
    for (const [key, bytes] of changes.set) {
      const state = this.#fields.get(key)!;
      state.stored = bytes;
      if (!changes.versions.has(key) || changes.versions.get(key) === state.version) {
        Object.assign(state, { snapshot: bytes, changed: false });
      }
    }
  }
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
 * A started session: its ID and its typed data. Obtained from `ctx.session.start()` or `load()`; persisted by
 * `ctx.session.persist()` or automatically once the response is written.
 */
export class Session<S extends SessionSchema> {
  #id: string;
  #createdAt: number;
  #lastUsedAt: number;
  #schemaVersion: number;
  #userId: string | null;
  #persisted: boolean;
  #destroyed = false;
  #flushing: Promise<void> = Promise.resolve();
  readonly #runtime: SessionRuntime;
  /** The session's fields. */
  readonly data: SessionData<S>;

  /** @internal */
  constructor(runtime: SessionRuntime, id: string, record: StoredRecord | null) {
    const now = Date.now();
    this.#runtime = runtime;
    this.#id = id;
    this.#createdAt = record?.createdAt ?? now;
    this.#lastUsedAt = record?.lastUsedAt ?? now;
    this.#schemaVersion = record?.schemaVersion ?? runtime.schemaVersion;
    this.#userId = record?.userId ?? null;
    this.#persisted = record !== null;
    this.data = new SessionData(this, runtime, record?.fields ?? null);
  }

  /** The session ID. It changes when the session is regenerated. Never log it whole. */
  get id(): string {
    return this.#id;
  }

  get meta(): SessionMeta {
    return { createdAt: new Date(this.#createdAt), lastUsedAt: new Date(this.#lastUsedAt), schemaVersion: this.#schemaVersion };
  }

  /** The user this session is bound to by {@link Session.bindUser}, or `null`. */
  get userId(): string | null {
    return this.#userId;
  }

  /**
   * A reference to this session that is safe to show the client, unlike its ID: the one
   * `sessions.userSessions()` lists it by, so an app can mark "this device". It changes with the ID.
   */
  get ref(): string {
    return sessionRef(this.#id);
  }

  /**
   * Binds the session to a user, so that `sessions.userSessions(userId)` lists it and
   * `sessions.revokeUser(userId)` ends it. Call it at login, after `ctx.session.regenerate()`. It writes at
   * once (a new session is written now, with its data): once it resolves, `revokeUser` finds the session.
   * The binding follows the session through `regenerate()` and ends with it. Binding to another user moves it.
   */
  async bindUser(userId: string): Promise<void> {
    this.assertUsable();
    if (typeof userId !== 'string' || userId === '') throw new TypeError('trpc-session: bindUser needs a non-empty user ID');
    await this.#flushing;
    const previous = this.#userId;
    if (previous === userId) return;
    if (!this.#persisted) {
      // The store indexes a new record under its user as it creates it.
      this.#userId = userId;
      await this.flush().catch((error: unknown) => {
        this.#userId = previous;
        throw error;
      });
    } else {
      const now = Date.now();
      const ttlMs = this.ttlAt(now);
      const result = ttlMs <= 0 ? 'gone' : await this.#runtime.store.bindUser(this.#id, userId, now + ttlMs);
      if (result === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
      this.#userId = userId;
    }
    if (previous !== null) await this.#runtime.store.unbindUser(this.#id, previous);
  }

  /** @internal Whether the store has a record of this session. */
  get persisted(): boolean {
    return this.#persisted;
  }

  /** @internal */
  assertUsable(): void {
    if (this.#destroyed) throw new SessionGoneError(redactSessionId(this.#id));
  }

  /** @internal */
  assertFits(size: number): void {
    if (size > this.#runtime.maxSize) throw new SessionTooLargeError(size, this.#runtime.maxSize, redactSessionId(this.#id));
  }

  /** @internal Milliseconds the record may live from `now`: the idle timeout capped by the absolute one. */
  ttlAt(now: number): number {
    return remainingLifetime(this.#runtime.policy, this.#createdAt, now);
  }

  /** @internal Writes what changed; writes run one at a time. Rejects with a `SessionError`. */
  flush(): Promise<void> {
    const run = this.#flushing.then(() => this.#write());
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #write(): Promise<void> {
    if (this.#destroyed) return;
    const changes = this.data.pendingChanges(!this.#persisted);
    if (this.#persisted && changes.set.size === 0 && changes.remove.length === 0) return;
    this.assertFits(changes.size);
    const now = Date.now();
    const ttlMs = this.ttlAt(now);
    const result =
      ttlMs <= 0
        ? 'gone'
        : await this.#runtime.store.write(this.#id, {
            create: !this.#persisted,
            now,
            ttlMs,
            createdAt: this.#createdAt,
            userId: this.#userId,
            schemaVersion: this.#runtime.schemaVersion,
            set: changes.set,
            remove: this.#persisted ? changes.remove : [],
          });
    if (result === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
    if (result === 'exists') throw new SessionError('INTERNAL_SERVER_ERROR', 'A new session ID collided with an existing session');
    this.#persisted = true;
    this.#lastUsedAt = now;
    this.#schemaVersion = this.#runtime.schemaVersion;
    this.data.written(changes);
  }

  /**
   * @internal Moves the session to a new ID: a new record with all its data and its user, then the old record
   * removed, so the old ID stops working at once.
   */
  async moveTo(id: string): Promise<void> {
    await this.#flushing;
    const [oldId, oldCreatedAt, wasPersisted] = [this.#id, this.#createdAt, this.#persisted];
    this.#id = id;
    this.#createdAt = Date.now();
    this.#persisted = false;
    try {
      await this.flush();
    } catch (error) {
      [this.#id, this.#createdAt, this.#persisted] = [oldId, oldCreatedAt, wasPersisted];
      throw error;
    }
    if (!wasPersisted) return;
    await this.#runtime.store.destroy(oldId);
    if (this.#userId !== null) await this.#runtime.store.unbindUser(oldId, this.#userId);
  }

  /** @internal Removes the record; later changes to this object are refused. */
  async destroy(): Promise<void> {
    await this.#flushing;
    this.#destroyed = true;
    if (!this.#persisted) return;
    await this.#runtime.store.destroy(this.#id);
    if (this.#userId !== null) await this.#runtime.store.unbindUser(this.#id, this.#userId);
  }
}
