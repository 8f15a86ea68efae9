import type * as z from 'zod';
import { encodeValue } from './codec.js';
import { SessionConflictError, SessionCorruptError, SessionError, SessionGoneError, SessionTooLargeError } from './errors.js';
import { FieldTable } from './fields.js';
import { flashField, FlashTable, takeFlashFields } from './flash.js';
import { redactSessionId, sessionRef } from './id.js';
import type { SessionRuntime } from './options.js';
import type { NoFlash, SessionSchema } from './schema.js';
import type {
  FlashKey,
  Session,
  SessionData,
  SessionFlash,
  SessionInput,
  SessionKey,
  SessionMeta,
  SessionValue,
  UserSessionInfo,
} from './session-api.js';
import { exceedsMaxSize, remainingLifetime, type ExpiryPolicy, type StoredRecord } from './stores/store.js';

/** `update` retries this many times when other requests keep changing the same field. */
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * One session's life against the store, and the only module that calls it: load, the single queue of writes
 * (the commit, `persist()`, `data.update()`, `bindUser()`), the move to a new ID, destroy.
 */
export class SessionLifecycle<S extends SessionSchema, F extends SessionSchema = NoFlash> implements Session<S, F> {
  #id: string;
  #createdAt: number;
  #lastUsedAt: number;
  #schemaVersion: number;
  #userId: string | null;
  #persisted: boolean;
  #destroyed = false;
  /** Every operation that touches the store runs here, one after the other. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #runtime: SessionRuntime;
  readonly #fields: FieldTable;
  readonly #flash: FlashTable;
  readonly data: SessionData<S>;
  readonly flash: SessionFlash<F>;

  constructor(runtime: SessionRuntime, id: string, record: StoredRecord | null) {
    const now = Date.now();
    this.#runtime = runtime;
    this.#id = id;
    this.#createdAt = record?.createdAt ?? now;
    this.#lastUsedAt = record?.lastUsedAt ?? now;
    this.#schemaVersion = record?.schemaVersion ?? runtime.schemaVersion;
    this.#userId = record?.userId ?? null;
    this.#persisted = record !== null;
    const label = () => redactSessionId(this.#id);
    const flash = record === null ? new Map<string, Uint8Array>() : takeFlashFields(record.fields);
    this.#flash = new FlashTable(runtime, flash, label);
    this.#fields = new FieldTable(runtime, record?.fields ?? null, label);
    this.data = new FieldAccess<S>(this, this.#fields);
    this.flash = new FlashAccess<F>(this);
  }

  get id(): string {
    return this.#id;
  }

  get meta(): SessionMeta {
    return { createdAt: new Date(this.#createdAt), lastUsedAt: new Date(this.#lastUsedAt), schemaVersion: this.#schemaVersion };
  }

  get userId(): string | null {
    return this.#userId;
  }

  get ref(): string {
    return sessionRef(this.#id);
  }

  async bindUser(userId: string): Promise<void> {
    this.assertUsable();
    if (typeof userId !== 'string' || userId === '') throw new TypeError('trpc-session: bindUser needs a non-empty user ID');
    return this.#enqueue(async () => {
      const previous = this.#userId;
      if (previous === userId) return;
      if (!this.#persisted) {
        // The store indexes a new record under its user as it creates it.
        this.#userId = userId;
        await this.#write().catch((error: unknown) => {
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
    });
  }

  /** Throws `SessionGoneError` once the session was destroyed. */
  assertUsable(): void {
    if (this.#destroyed) throw new SessionGoneError(redactSessionId(this.#id));
  }

  /** Milliseconds the record may live from `now`: the idle timeout capped by the absolute one. */
  ttlAt(now: number): number {
    return remainingLifetime(this.#runtime.policy, this.#createdAt, now);
  }

  /** Writes what changed, after whatever is queued. Rejects with a `SessionError`. */
  flush(): Promise<void> {
    return this.#enqueue(() => this.#write());
  }

  /** `data.update`: a compare-and-set of one field, retried on the newer value when another request won. */
  async update<K extends SessionKey<S>>(key: K, fn: (current: SessionValue<S, K>) => SessionInput<S, K>): Promise<SessionValue<S, K>> {
    this.assertUsable();
    const fields = this.#fields;
    if (!this.#persisted) {
      // Nobody else can see a session that was never written: a local change is atomic.
      fields.put(key, fn(fields.get(key) as SessionValue<S, K>));
      return fields.get(key) as SessionValue<S, K>;
    }
    return this.#enqueue(() =>
      this.#runtime.fieldLocks.run(`${this.#id}\n${key}`, async (shared) => {
        for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
          if (shared.latest !== undefined) fields.storedElsewhere(key, shared.latest);
          const current = fields.current(key);
          const next = fields.validate(key, fn(current.value as SessionValue<S, K>));
          const bytes = encodeValue(next);
          this.#assertFits(fields.storedSize(), fields.sizeWith(key, bytes));
          const now = Date.now();
          const maxSize = this.#runtime.maxSize;
          const result =
            this.ttlAt(now) <= 0
              ? ({ status: 'gone' } as const)
              : await this.#runtime.store.compareAndSet(this.#id, { field: key, expected: current.stored, next: bytes, now, maxSize });
          if (result.status === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
          if (result.status === 'too large') throw this.#tooLarge(result.size);
          if (result.status === 'ok') {
            shared.latest = bytes;
            fields.swapped(key, next, bytes);
            return next as SessionValue<S, K>;
          }
          shared.latest = result.current;
          fields.storedElsewhere(key, result.current);
          // Another process won the race: back off a little, at random, so the contenders spread out.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attempt, 20)));
        }
        throw new SessionConflictError(key, MAX_UPDATE_ATTEMPTS);
      }),
    );
  }

  /** `flash.set`: validated now, refused at once when the session as this request knows it would pass `maxSize`. */
  setFlash(key: string, value: unknown): void {
    this.assertUsable();
    const previous = this.#flash.unsetPending(key);
    this.#flash.set(key, value);
    const before = this.#fields.storedSize() + this.#flash.storedSize();
    const after = this.#fields.storedSize() + this.#flash.changes(false).size;
    if (exceedsMaxSize(before, after, this.#runtime.maxSize)) {
      this.#flash.unsetPending(key);
      if (previous !== undefined) this.#flash.set(key, previous.value);
      throw this.#tooLarge(after);
    }
  }

  /**
   * `flash.take`: the value this request set, if any, else the stored one, taken out of the store by a
   * compare-and-delete, so that of concurrent takers exactly one gets it. A value replaced meanwhile by another
   * request is taken in its turn. `undefined` when there is none, or the session is gone.
   */
  takeFlash(key: string): Promise<unknown> {
    const local = this.#flash.unsetPending(key);
    if (this.#destroyed || !this.#persisted) return Promise.resolve(local?.value);
    return this.#enqueue(async () => {
      const flash = this.#flash;
      for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
        const expected = flash.stored(key);
        if (expected === undefined || this.#destroyed) return local?.value;
        const now = Date.now();
        const swap = { field: flashField(key), expected, next: null, now, maxSize: this.#runtime.maxSize };
        const result = this.ttlAt(now) <= 0 ? ({ status: 'gone' } as const) : await this.#runtime.store.compareAndSet(this.#id, swap);
        if (result.status === 'conflict') {
          flash.storedElsewhere(key, result.current ?? undefined);
          continue;
        }
        flash.storedElsewhere(key, undefined);
        // 'gone': the session ended or moved, taking the value with it; a removal is never 'too large'.
        if (result.status !== 'ok') return local?.value;
        return local === undefined ? flash.decode(key, expected) : local.value;
      }
      throw new SessionConflictError(flashField(key), MAX_UPDATE_ATTEMPTS);
    });
  }

  /**
   * Moves the session to a new ID. The old record is first taken out in one atomic step that leaves it marked
   * as moved (`moveOut`): writes other requests made to it before are carried over, merged under this
   * request's own changes; later ones are refused with `SessionGoneError`. Then the new record is created.
   * Should that fail, the old record is put back as it was taken, when the store allows.
   */
  moveTo(id: string): Promise<void> {
    return this.#enqueue(async () => {
      const [oldId, wasPersisted] = [this.#id, this.#persisted];
      // Refuse an unstorable in-place change before the old record is touched.
      this.#fields.noteInPlaceChanges();
      // The session answers to its new ID from the start of the move, so calls that regenerate it one after the
      // other in one request all end with the last ID.
      this.#id = id;
      let taken: StoredRecord | null = null;
      if (wasPersisted) {
        const moved = await this.#runtime.store.moveOut(oldId, Date.now()).catch((error: unknown) => {
          this.#id = oldId;
          throw error;
        });
        if (moved.status === 'gone') {
          this.#id = oldId;
          throw new SessionGoneError(redactSessionId(oldId));
        }
        taken = moved.record;
        const data = new Map(taken.fields);
        this.#flash.rebase(takeFlashFields(data));
        this.#fields.rebase(data);
        this.#userId = taken.userId;
      }
      // The creation time moves too: the absolute lifetime counts from the first record, not from each move.
      this.#persisted = false;
      try {
        await this.#write(wasPersisted ? oldId : null);
      } catch (error) {
        [this.#id, this.#persisted] = [oldId, wasPersisted];
        if (taken !== null) await this.#putBack(taken);
        throw error;
      }
      if (!wasPersisted) return;
      if (this.#userId !== null) await this.#runtime.store.unbindUser(oldId, this.#userId);
    });
  }

  /** Restores a record taken out by a move that failed, exactly as taken; best effort (the store may be down). */
  async #putBack(record: StoredRecord): Promise<void> {
    const now = Date.now();
    const ttlMs = record.ttlMs > 0 ? record.ttlMs : this.ttlAt(now);
    const write = {
      create: true,
      now,
      ttlMs,
      createdAt: record.createdAt,
      userId: record.userId,
      schemaVersion: record.schemaVersion,
      set: record.fields,
      remove: [],
      // Exactly what was there: the size rule does not apply to putting it back.
      maxSize: Number.MAX_SAFE_INTEGER,
    };
    try {
      await this.#runtime.store.destroy(this.#id);
      if (ttlMs > 0) await this.#runtime.store.write(this.#id, write);
    } catch {
      // The move's own error is the one to report; the session is lost with it.
    }
  }

  /** Removes the record; later changes to this session are refused. */
  destroy(): Promise<void> {
    return this.#enqueue(async () => {
      this.#destroyed = true;
      if (!this.#persisted) return;
      await this.#runtime.store.destroy(this.#id);
      this.#runtime.emit('destroyed', this.#id, this.#userId);
      if (this.#userId !== null) await this.#runtime.store.unbindUser(this.#id, this.#userId);
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The store's size rule, checked first against what this request knows of the record. */
  #assertFits(sizeBefore: number, sizeAfter: number): void {
    if (exceedsMaxSize(sizeBefore, sizeAfter, this.#runtime.maxSize)) throw this.#tooLarge(sizeAfter);
  }

  #tooLarge(size: number): SessionTooLargeError {
    return new SessionTooLargeError(size, this.#runtime.maxSize, redactSessionId(this.#id));
  }

  /** Writes what changed; a new record is told to `onEvent` as created, or as regenerated when `movedFrom` is the ID it moved from. */
  async #write(movedFrom: string | null = null): Promise<void> {
    if (this.#destroyed) return;
    const creating = !this.#persisted;
    const changes = this.#fields.changes(creating);
    const flash = this.#flash.changes(creating);
    const flashChanged = flash.set.size > 0 || flash.remove.length > 0;
    if (!creating && changes.set.size === 0 && changes.remove.length === 0 && !flashChanged) return;
    this.#assertFits(creating ? 0 : this.#fields.storedSize() + this.#flash.storedSize(), changes.size + flash.size);
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
            set: flash.set.size === 0 ? changes.set : new Map([...changes.set, ...flash.set]),
            remove: creating ? [] : flash.remove.length === 0 ? changes.remove : [...changes.remove, ...flash.remove],
            maxSize: this.#runtime.maxSize,
          });
    if (result === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
    if (typeof result === 'object') throw this.#tooLarge(result.size);
    if (result === 'exists') throw new SessionError('INTERNAL_SERVER_ERROR', 'A new session ID collided with an existing session');
    this.#persisted = true;
    this.#lastUsedAt = now;
    this.#schemaVersion = this.#runtime.schemaVersion;
    this.#fields.written(changes);
    if (flashChanged) this.#flash.written(flash.set);
    if (!creating) return;
    if (movedFrom === null) this.#runtime.emit('created', this.#id, this.#userId);
    else this.#runtime.emit('regenerated', this.#id, this.#userId, { previousId: movedFrom });
  }
}

/** `session.data`: the typed face of the field table; changes are refused once the session was destroyed. */
class FieldAccess<S extends SessionSchema> implements SessionData<S> {
  readonly #session: SessionLifecycle<S>;
  readonly #fields: FieldTable;

  constructor(session: SessionLifecycle<S>, fields: FieldTable) {
    this.#session = session;
    this.#fields = fields;
  }

  get<K extends SessionKey<S>>(key: K): SessionValue<S, K> {
    return this.#fields.get(key) as SessionValue<S, K>;
  }

  put<K extends SessionKey<S>>(key: K, value: SessionInput<S, K>): void {
    this.#session.assertUsable();
    this.#fields.put(key, value);
  }

  has(key: SessionKey<S>): boolean {
    return this.#fields.has(key);
  }

  delete(key: SessionKey<S>): void {
    this.#session.assertUsable();
    this.#fields.delete(key);
  }

  clear(): void {
    for (const key of this.#fieldNames()) this.delete(key);
  }

  all(): z.output<S> {
    const all: Record<string, unknown> = {};
    for (const key of this.#fieldNames()) all[key] = this.#fields.get(key);
    return all as z.output<S>;
  }

  update<K extends SessionKey<S>>(key: K, fn: (current: SessionValue<S, K>) => SessionInput<S, K>): Promise<SessionValue<S, K>> {
    return this.#session.update(key, fn);
  }

  #fieldNames(): readonly SessionKey<S>[] {
    return this.#fields.names as readonly SessionKey<S>[];
  }
}

/** `session.flash`: the typed face of the session's flash values. */
class FlashAccess<F extends SessionSchema> implements SessionFlash<F> {
  readonly #session: SessionLifecycle<SessionSchema, F>;

  constructor(session: SessionLifecycle<SessionSchema, F>) {
    this.#session = session;
  }

  set<K extends FlashKey<F>>(key: K, value: z.input<F['shape'][K]>): void {
    this.#session.setFlash(key, value);
  }

  take<K extends FlashKey<F>>(key: K): Promise<z.output<F['shape'][K]> | undefined> {
    return this.#session.takeFlash(key) as Promise<z.output<F['shape'][K]> | undefined>;
  }
}

/** The expiry policy of a load whose response cannot carry a cookie: it never extends the record. */
const NEVER_REFRESH = (policy: ExpiryPolicy): ExpiryPolicy => ({ ...policy, touchAfterMs: Number.POSITIVE_INFINITY });

/**
 * A new session, not written yet. Refused with the store's `SessionStoreUnavailableError` when the store
 * already knows it cannot be written, so no client is handed a cookie for a session that will not exist.
 */
export async function newSession<S extends SessionSchema, F extends SessionSchema = NoFlash>(runtime: SessionRuntime, id: string): Promise<SessionLifecycle<S, F>> {
  const unreachable = (await runtime.store.available?.()) ?? null;
  if (unreachable !== null) throw unreachable;
  return new SessionLifecycle<S, F>(runtime, id, null);
}

/**
 * The client's session as the store has it, and whether this load extended its expiry (so the cookie must
 * follow); `null` when it is missing, or corrupt (reported, and removed by the store); `'moved'` when another
 * request has just moved it to a new ID (`regenerate()`). With `canSetCookie` false (a render, a stream, a
 * WebSocket) the expiry is left as it is: the record and the cookie expire together, never the record
 * outliving the cookie that names it.
 */
export async function loadSession<S extends SessionSchema, F extends SessionSchema = NoFlash>(
  runtime: SessionRuntime,
  id: string,
  canSetCookie: boolean,
): Promise<{ session: SessionLifecycle<S, F>; refreshed: boolean } | 'moved' | null> {
  const policy = canSetCookie ? runtime.policy : NEVER_REFRESH(runtime.policy);
  const result = await runtime.store.load(id, policy, Date.now());
  if (result.status === 'corrupt') {
    runtime.report(new SessionCorruptError(redactSessionId(id), result.reason));
    return null;
  }
  if (result.status === 'missing') return null;
  if (result.status === 'moved') return 'moved';
  if (result.status === 'expired') {
    runtime.emit('expired', id, result.userId, { reason: result.reason });
    return null;
  }
  return { session: new SessionLifecycle<S, F>(runtime, id, result.record), refreshed: result.record.refreshed };
}

/** The live sessions bound to a user, most recently used first. */
export async function userSessions(runtime: SessionRuntime, userId: string): Promise<UserSessionInfo[]> {
  const records = await runtime.store.userSessions(userId, Date.now());
  return records
    .sort((a, b) => b.lastUsedAt - a.lastUsedAt)
    .map(({ id, createdAt, lastUsedAt }) => ({ ref: sessionRef(id), createdAt: new Date(createdAt), lastUsedAt: new Date(lastUsedAt) }));
}

/** Ends every session bound to a user, each told to `onEvent` as revoked; resolves to how many there were. */
export function revokeUser(runtime: SessionRuntime, userId: string): Promise<number> {
  return runtime.store.revokeUser(userId, (id) => runtime.emit('revoked', id, userId, { reason: 'revokeUser' }));
}

/** Closes what the store opened. */
export function closeStore(runtime: SessionRuntime): Promise<void> {
  return runtime.store.close();
}
