import type * as z from 'zod/v4';
import { encodeValue } from './codec.js';
import { decodeDevice, encodeDevice } from './device.js';
import { SessionConflictError, SessionCorruptError, SessionError, SessionForbiddenError, SessionGoneError, SessionMigrationError, SessionTooLargeError, SessionVersionError } from './errors.js';
import { FieldTable, type ChangeSet } from './fields.js';
import { flashField, FlashTable, NO_FLASH_CHANGES, takeFlashFields } from './flash.js';
import { createWriteToken, redactSessionId, sessionRef } from './id.js';
import { migrateFields, needsMigration, type MigratedFields } from './migrations.js';
import type { SessionRuntime } from './options.js';
import type { NoFlash, SessionSchema } from './schema.js';
import type {
  BindUserOptions,
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
import { endedBy, expiryAtLoad, remainingLifetime, type ExpiryPolicy } from './expiry.js';
import type { SessionEventReason } from './events.js';
import { exceedsMaxSize, USER_BATCH, type RecordExpectation, type RecordLifespan, type RecordWrite, type StoredRecord } from './stores/store.js';

/** `update` retries this many times when other requests keep changing the same field. */
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * What the migrations changed in a record written by an older schema version, not written yet: it goes with
 * the request's next write, which applies only if the record is still `from`, the record the migrations ran on.
 */
interface PendingMigration {
  from: RecordExpectation;
  set: ReadonlyMap<string, Uint8Array>;
  remove: readonly string[];
}

/**
 * The pending write-back of a migration. Conditional even when the migrations changed no field of this record:
 * a write by a server of the old version may since have stored one they would change.
 */
function pendingMigration(record: StoredRecord, migrated: MigratedFields): PendingMigration {
  return { from: { schemaVersion: record.schemaVersion, fields: record.fields }, set: migrated.set, remove: migrated.remove };
}

/** A record's fields as the running schema version reads them, and the write-back they need, if any. */
function migrated(runtime: SessionRuntime, id: string, record: StoredRecord): { fields: Map<string, Uint8Array>; pending: PendingMigration | null } {
  if (!needsMigration(runtime.migrations, record.schemaVersion)) return { fields: record.fields, pending: null };
  // Flash values are not the schema's: migrations never see them, and they stay as stored.
  const data = new Map(record.fields);
  const flash = takeFlashFields(data);
  const result = migrateFields(runtime.migrations, data, record.schemaVersion, redactSessionId(id));
  for (const [key, bytes] of flash ?? []) result.fields.set(flashField(key), bytes);
  return { fields: result.fields, pending: pendingMigration(record, result) };
}

/** A write's own changes with a migration's under them: the request's puts and deletes win. */
function withMigration(changes: Pick<ChangeSet, 'set' | 'remove'>, migration: PendingMigration): { set: Map<string, Uint8Array>; remove: string[] } {
  const set = new Map(migration.set);
  for (const field of changes.remove) set.delete(field);
  for (const [field, bytes] of changes.set) set.set(field, bytes);
  const remove = [...new Set([...migration.remove, ...changes.remove])].filter((field) => !set.has(field));
  return { set, remove };
}

/** An operation with nothing to do, done. */
const SETTLED: Promise<void> = Promise.resolve();

/** What a write that carries only a pending migration changes of the request's own: nothing. */
const NO_CHANGES = (): ChangeSet => ({ set: new Map(), remove: [], size: 0 });

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
  /** The session's own lifespan ("remember me"), chosen at `regenerate()`; null: the manager's. */
  #lifespan: RecordLifespan;
  /** The device metadata `bindUser` recorded, as stored. */
  #device: string | undefined;
  #persisted: boolean;
  #destroyed = false;
  /** Why the request this session was handed to may not change it (it came from another origin), or null. */
  #changesRefused: string | null = null;
  /** The write-back of the migrations this session's record went through when read, until a write carries it. */
  #migration: PendingMigration | null;
  /** Every operation that touches the store runs here, one after the other. */
  #queue: Promise<unknown> = SETTLED;
  /** How many queued operations have not settled yet: none, and a flush that finds nothing changed can say so at once. */
  #queued = 0;
  readonly #runtime: SessionRuntime;
  readonly #fields: FieldTable;
  /** Built when the record holds flash values or this request uses them (see `#flash`): most sessions never do. */
  #flashTable: FlashTable | undefined;
  /** The shortened ID that reports name. */
  readonly #label: () => string;
  readonly data: SessionData<S>;
  #flashAccess: SessionFlash<F> | undefined;

  /** `migration`: what the migrations changed in `record`, whose fields are already the migrated ones. */
  constructor(runtime: SessionRuntime, id: string, record: StoredRecord | null, migration: PendingMigration | null = null) {
    // Only a new session reads the clock: a call into V8's runtime.
    const now = record === null ? Date.now() : 0;
    this.#runtime = runtime;
    this.#id = id;
    this.#createdAt = record?.createdAt ?? now;
    this.#lastUsedAt = record?.lastUsedAt ?? now;
    this.#schemaVersion = record?.schemaVersion ?? runtime.schemaVersion;
    this.#userId = record?.userId ?? null;
    this.#lifespan = record?.lifespan ?? null;
    this.#device = record?.device;
    this.#persisted = record !== null;
    this.#migration = migration;
    this.#label = () => redactSessionId(this.#id);
    const flash = record === null ? undefined : takeFlashFields(record.fields);
    this.#flashTable = flash === undefined ? undefined : new FlashTable(runtime, flash, this.#label);
    this.#fields = new FieldTable(runtime, record?.fields ?? null, this.#label);
    this.data = new FieldAccess<S>(this, this.#fields);
  }

  get #flash(): FlashTable {
    return (this.#flashTable ??= new FlashTable(this.#runtime, undefined, this.#label));
  }

  /** Built when first used: most requests never touch flash values. */
  get flash(): SessionFlash<F> {
    return (this.#flashAccess ??= new FlashAccess<F>(this));
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

  async bindUser(userId: string, options?: BindUserOptions): Promise<void> {
    this.assertUsable();
    if (typeof userId !== 'string' || userId === '') throw new TypeError('trpc-session: bindUser needs a non-empty user ID');
    const device = encodeDevice(options?.device);
    const newlyBound = await this.#enqueue(async () => {
      const [previous, previousDevice] = [this.#userId, this.#device];
      if (previous === userId && device === undefined) return false;
      if (!this.#persisted) {
        // The store indexes a new record under its user as it creates it.
        [this.#userId, this.#device] = [userId, device];
        await this.#write().catch((error: unknown) => {
          [this.#userId, this.#device] = [previous, previousDevice];
          throw error;
        });
      } else {
        const now = Date.now();
        const ttlMs = this.ttlAt(now);
        const result = ttlMs <= 0 ? 'gone' : await this.#runtime.store.bindUser(this.#id, userId, now + ttlMs, device);
        if (result === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
        [this.#userId, this.#device] = [userId, device];
      }
      if (previous === userId) return false;
      if (previous !== null) await this.#runtime.store.unbindUser(this.#id, previous);
      return true;
    });
    if (newlyBound) await trimUserSessions(this.#runtime, userId, this.#id);
  }

  /** Throws `SessionGoneError` once the session was destroyed, `SessionForbiddenError` when this request may not change it. */
  assertUsable(): void {
    if (this.#destroyed) throw new SessionGoneError(redactSessionId(this.#id));
    if (this.#changesRefused !== null) throw new SessionForbiddenError(this.#changesRefused);
  }

  /** Refuses this request's changes (see `origin-check.ts`): puts and the like throw, nothing of its own is written. */
  refuseChanges(reason: string): void {
    this.#changesRefused = reason;
  }

  /** Milliseconds the record may live from `now`: its idle timeout capped by the absolute one. */
  ttlAt(now: number): number {
    return remainingLifetime(policyFor(this.#runtime, this.#lifespan), this.#createdAt, now);
  }

  /** Whether the cookie lasts as long as the browser session (no `Max-Age`), as `regenerate({ lifespan: 'browser' })` chose. */
  get browserSession(): boolean {
    return this.#lifespan === 'browser';
  }

  /**
   * Gives a session not written yet its own lifespan; false once it is written, or while an operation is queued
   * (a create under way already carries the lifespan it had), when only a move (`moveTo`) can, since a record's
   * expiry is set as it is created.
   */
  adoptLifespan(lifespan: RecordLifespan): boolean {
    if (this.#persisted || this.#queued > 0) return false;
    this.#lifespan = lifespan;
    return true;
  }

  /** Writes what changed, after whatever is queued. Rejects with a `SessionError`. */
  flush(): Promise<void> {
    // Nothing queued that could change the session, and nothing changed: the write would return at once (a read).
    if (this.#queued === 0 && (this.#destroyed || (this.#persisted && !this.#fields.mayHaveChanged() && this.#flashTable?.changed() !== true))) return SETTLED;
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
        // The swap must not land on a record not migrated yet: a later write-back would overwrite it.
        if (this.#migration !== null) await this.#write(false);
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
              : await this.#runtime.store.compareAndSet(this.#id, {
                  field: key,
                  expected: current.stored,
                  next: bytes,
                  now,
                  maxSize,
                  token: createWriteToken(),
                  schemaVersion: this.#runtime.schemaVersion,
                });
          if (result.status === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
          if (result.status === 'newer') throw this.#newer();
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
    if (this.#destroyed) return Promise.resolve(local?.value);
    // Queued even while the session is not written: a move under way (`regenerate()`) writes the stored values
    // again, at the new ID, and only then can the take find them there.
    return this.#enqueue(async () => {
      const flash = this.#flash;
      for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
        const expected = flash.stored(key);
        if (expected === undefined || this.#destroyed) return local?.value;
        const now = Date.now();
        const swap = { field: flashField(key), expected, next: null, now, maxSize: this.#runtime.maxSize, token: createWriteToken() };
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
   * as moved to the new ID (`moveOut`): writes other requests made to it before are carried over, merged under
   * this request's own changes; later ones are refused with `SessionGoneError`. Then the new record is created.
   * Should that fail, the old record is put back as it was taken, when the store allows; not when the create
   * was refused because the session was revoked meanwhile (`revokeSessions` followed the mark).
   *
   * The old ID keeps its entry in the user's index while its mark lasts: a revoke by the ref a device list
   * showed before the move still finds the session, through the mark.
   */
  moveTo(id: string, lifespan?: RecordLifespan): Promise<void> {
    return this.#enqueue(async () => {
      const [oldId, wasPersisted, oldLifespan] = [this.#id, this.#persisted, this.#lifespan];
      // Refuse an unstorable in-place change before the old record is touched.
      this.#fields.noteInPlaceChanges();
      // The session answers to its new ID from the start of the move, so calls that regenerate it one after the
      // other in one request all end with the last ID.
      this.#id = id;
      let taken: StoredRecord | null = null;
      let takenMigration: PendingMigration | null = null;
      if (wasPersisted) {
        const moved = await this.#runtime.store.moveOut(oldId, Date.now(), id).catch((error: unknown) => {
          this.#id = oldId;
          throw error;
        });
        if (moved.status === 'gone') {
          this.#id = oldId;
          throw new SessionGoneError(redactSessionId(oldId));
        }
        taken = moved.record;
        if (taken.schemaVersion > this.#runtime.schemaVersion) {
          // Written by a newer server since this request read it: this one's schema would rewrite it at its own version.
          this.#id = oldId;
          await this.#putBack(taken);
          throw this.#newer(taken.schemaVersion);
        }
        try {
          // The record taken may be the one read, not migrated yet: the new record is written migrated.
          const current = reportingMigration(this.#runtime, oldId, taken);
          this.#rebase(current.fields);
          takenMigration = current.pending;
        } catch (error) {
          this.#id = oldId;
          await this.#putBack(taken);
          throw error;
        }
        this.#userId = taken.userId;
        this.#lifespan = taken.lifespan;
        this.#device = taken.device;
      }
      // The new record carries the lifespan of the old one, unless this move chooses another.
      if (lifespan !== undefined) this.#lifespan = lifespan;
      // The new record is written whole, at the running schema version.
      this.#migration = null;
      // The creation time moves too: the absolute lifetime counts from the first record, not from each move.
      this.#persisted = false;
      try {
        await this.#write(true, wasPersisted ? oldId : null);
      } catch (error) {
        [this.#id, this.#persisted] = [oldId, wasPersisted];
        this.#lifespan = oldLifespan;
        // Put back as taken: a later write of this request carries the migration again.
        this.#migration = takenMigration;
        // Not put back when the create was refused because the session was revoked meanwhile.
        if (taken !== null && !(error instanceof SessionGoneError)) await this.#putBack(taken);
        throw error;
      }
    });
  }

  /**
   * Restores a record taken out by a move that failed, exactly as taken, over its moved mark (never over a
   * revoked one); best effort (the store may be down).
   */
  async #putBack(record: StoredRecord): Promise<void> {
    const now = Date.now();
    // What the record had left when taken (NaN when the store could not tell: the policy's lifetime then). One
    // that expired meanwhile stays expired: nothing is put back.
    const left = record.expiresAt - now;
    const ttlMs = Number.isNaN(left) ? this.ttlAt(now) : Math.min(left, this.ttlAt(now));
    const write = {
      create: true,
      now,
      ttlMs,
      createdAt: record.createdAt,
      userId: record.userId,
      lifespan: record.lifespan,
      device: record.device,
      schemaVersion: record.schemaVersion,
      set: record.fields,
      remove: [],
      // Exactly what was there: the size rule does not apply to putting it back.
      maxSize: Number.MAX_SAFE_INTEGER,
      token: createWriteToken(),
    };
    try {
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
      // Not told when a revoke or an expiry ended the session first: it was told then.
      if (await this.#runtime.store.destroy(this.#id)) this.#runtime.emit('destroyed', this.#id, this.#userId);
      if (this.#userId !== null) await this.#runtime.store.unbindUser(this.#id, this.#userId);
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    // Nothing queued: every operation before has settled, and this one starts now, sparing a promise turn.
    const run = this.#queued++ === 0 ? task() : this.#queue.then(task);
    const settled = () => {
      this.#queued--;
    };
    this.#queue = run.then(settled, settled);
    return run;
  }

  /** The store's size rule, checked first against what this request knows of the record. */
  #assertFits(sizeBefore: number, sizeAfter: number): void {
    if (exceedsMaxSize(sizeBefore, sizeAfter, this.#runtime.maxSize)) throw this.#tooLarge(sizeAfter);
  }

  /** A change refused because a newer schema version wrote the record (`storedVersion`, when known). */
  #newer(storedVersion?: number): SessionVersionError {
    return new SessionVersionError(redactSessionId(this.#id), storedVersion, this.#runtime.schemaVersion);
  }

  #tooLarge(size: number): SessionTooLargeError {
    return new SessionTooLargeError(size, this.#runtime.maxSize, redactSessionId(this.#id));
  }

  /**
   * Writes what changed, flash values included. A record read before its migration was written carries the
   * migration's changes under its own, on condition that it is still the record migrated; when another request
   * changed it meanwhile (`'stale'`: nothing written), it is read again, migrated again if it still needs it,
   * and the request's own changes are written over that. `own` false: the pending migration only. A new record
   * is told to `onEvent` as created, or as regenerated when `movedFrom` is the ID it moved from.
   */
  async #write(own = true, movedFrom: string | null = null): Promise<void> {
    if (this.#destroyed) return;
    for (let attempt = 1; ; attempt++) {
      const creating = !this.#persisted;
      const changes = own ? this.#fields.changes(creating) : NO_CHANGES();
      const flash = own && this.#flashTable !== undefined ? this.#flashTable.changes(creating) : NO_FLASH_CHANGES;
      const flashChanged = flash.set.size > 0 || flash.remove.length > 0;
      const migration = creating ? null : this.#migration;
      // A migration alone is never written by a request that changes nothing: a read leaves the record as it is.
      if (!creating && changes.set.size === 0 && changes.remove.length === 0 && !flashChanged && (own || migration === null)) return;
      // Changed in place (a value from `get` mutated) by a request that may not change the session: not written.
      if (own && this.#changesRefused !== null && (changes.set.size > 0 || changes.remove.length > 0 || flashChanged)) {
        throw new SessionForbiddenError(this.#changesRefused);
      }
      // Within the limit, as nearly every session is, what the store holds now need not be measured.
      if (own && changes.size + flash.size > this.#runtime.maxSize) {
        this.#assertFits(creating ? 0 : this.#fields.storedSize() + (this.#flashTable?.storedSize() ?? 0), changes.size + flash.size);
      }
      const mine = flashChanged ? { set: new Map([...changes.set, ...flash.set]), remove: [...changes.remove, ...flash.remove] } : changes;
      const { set, remove } = migration === null ? mine : withMigration(mine, migration);
      const now = Date.now();
      const ttlMs = this.ttlAt(now);
      const write: RecordWrite = {
        create: creating,
        now,
        ttlMs,
        createdAt: this.#createdAt,
        userId: this.#userId,
        lifespan: this.#lifespan,
        device: this.#device,
        schemaVersion: this.#runtime.schemaVersion,
        set,
        remove: creating ? [] : remove,
        maxSize: this.#runtime.maxSize,
        token: createWriteToken(),
      };
      // Set only when there is one, not spread in: a spread into a literal copies on V8's slow path.
      if (migration !== null) write.expect = migration.from;
      const result = ttlMs <= 0 ? 'gone' : await this.#runtime.store.write(this.#id, write);
      if (result === 'stale') {
        if (attempt === MAX_UPDATE_ATTEMPTS) throw new SessionConflictError('(schema migration)', attempt);
        await this.#reread();
        continue;
      }
      if (result === 'gone') throw new SessionGoneError(redactSessionId(this.#id));
      if (result === 'newer') throw this.#newer();
      if (typeof result === 'object') throw this.#tooLarge(result.size);
      if (result === 'exists') throw new SessionError('INTERNAL_SERVER_ERROR', 'A new session ID collided with an existing session');
      this.#persisted = true;
      this.#lastUsedAt = now;
      this.#schemaVersion = this.#runtime.schemaVersion;
      this.#migration = null;
      this.#fields.written(changes);
      if (flashChanged) this.#flash.written(flash.set);
      if (!creating) return;
      if (movedFrom === null) this.#runtime.emit('created', this.#id, this.#userId);
      else this.#runtime.emit('regenerated', this.#id, this.#userId, { previousId: movedFrom });
      return;
    }
  }

  /** Takes a record's fields as read again (a move, a re-read): its flash values to the flash table, the rest to the fields. */
  #rebase(fields: ReadonlyMap<string, Uint8Array>): void {
    const data = new Map(fields);
    this.#flash.rebase(takeFlashFields(data));
    this.#fields.rebase(data);
  }

  /**
   * Reads the record again after a conditional write found it changed: the fields this request did not
   * change take the stored (and, if it still needs it, migrated) values; its own changes stay to be written.
   */
  async #reread(): Promise<void> {
    const now = Date.now();
    const result = await this.#runtime.store.load(this.#id, now);
    if (result.status === 'corrupt') this.#runtime.report(new SessionCorruptError(redactSessionId(this.#id), result.reason));
    if (result.status !== 'found' || typeof expiryAtLoad(policyFor(this.#runtime, result.record.lifespan), result.record.createdAt, result.record.expiresAt, now) !== 'object') {
      throw new SessionGoneError(redactSessionId(this.#id));
    }
    const { fields, pending } = reportingMigration(this.#runtime, this.#id, result.record);
    this.#rebase(fields);
    this.#migration = pending;
    this.#schemaVersion = result.record.schemaVersion;
  }
}

/** `migrated`, reporting a failed migration to `onError` before it is thrown. */
function reportingMigration(runtime: SessionRuntime, id: string, record: StoredRecord): ReturnType<typeof migrated> {
  try {
    return migrated(runtime, id, record);
  } catch (error) {
    if (error instanceof SessionMigrationError) runtime.report(error);
    throw error;
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

/**
 * The expiry policy of a session of the given lifespan: its own idle timeout, refreshed at least every tenth of
 * it, or the manager's. `touchAfter` suits the manager's lifespan: a shorter one of the session's own would
 * otherwise end, however active the session, before a refresh was ever due.
 */
function policyFor(runtime: SessionRuntime, lifespan: RecordLifespan): ExpiryPolicy {
  if (typeof lifespan !== 'number') return runtime.policy;
  return { ...runtime.policy, idleMs: lifespan, touchAfterMs: Math.min(runtime.policy.touchAfterMs, lifespan / 10) };
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

/**
 * A new session, not written yet. Refused with the store's `SessionStoreUnavailableError` when the store
 * already knows it cannot be written, so no client is handed a cookie for a session that will not exist.
 */
export function newSession<S extends SessionSchema, F extends SessionSchema = NoFlash>(runtime: SessionRuntime, id: string): SessionLifecycle<S, F> | Promise<SessionLifecycle<S, F>> {
  const { store } = runtime;
  // A store that cannot tell (the memory store) costs no promise turn.
  if (store.available === undefined) return new SessionLifecycle<S, F>(runtime, id, null);
  return store.available().then((unreachable) => {
    if (unreachable !== null) throw unreachable;
    return new SessionLifecycle<S, F>(runtime, id, null);
  });
}

/**
 * The client's session as the store has it, and whether this load extended its expiry (so the cookie must
 * follow); `null` when it is missing, ended (removed now), or corrupt (reported, and removed by the store);
 * `'moved'` when another request has just moved it to a new ID (`regenerate()`). The expiry policy is applied
 * here: a refresh is due once it would extend the expiry by `touchAfter`. With `canSetCookie` false (a render,
 * a stream, a WebSocket) the expiry is left as it is: the record and the cookie expire together, never the
 * record outliving the cookie that names it.
 */
export async function loadSession<S extends SessionSchema, F extends SessionSchema = NoFlash>(
  runtime: SessionRuntime,
  id: string,
  canSetCookie: boolean,
): Promise<{ session: SessionLifecycle<S, F>; refreshed: boolean } | 'moved' | null> {
  const now = Date.now();
  const result = await runtime.store.load(id, now);
  if (result.status === 'corrupt') {
    runtime.report(new SessionCorruptError(redactSessionId(id), result.reason));
    return null;
  }
  if (result.status === 'missing') return null;
  if (result.status === 'moved') return 'moved';
  const { record } = result;
  const own = policyFor(runtime, record.lifespan);
  const policy = canSetCookie ? own : { ...own, touchAfterMs: Number.POSITIVE_INFINITY };
  const expiry = expiryAtLoad(policy, record.createdAt, record.expiresAt, now);
  if (expiry === 'ended') {
    // Told by the load that removed it: of concurrent loads that find it over, one.
    if (await runtime.store.destroy(id)) runtime.emit('expired', id, record.userId, { reason: endedBy(own, record.createdAt, now) });
    return null;
  }
  // Past the expiry the store set, which the store is about to act on: unused for its lifespan.
  if (expiry === 'expired') {
    runtime.emit('expired', id, record.userId, { reason: 'idle' });
    return null;
  }
  // Due, or the record has no expiry of its own (one the store did not write): refresh it now.
  const lifetime = expiry.refreshTo;
  if (lifetime !== null) {
    if ((await runtime.store.touch(id, { now, ttlMs: lifetime, userId: record.userId })) === 'gone') return null;
    record.lastUsedAt = now;
    record.expiresAt = now + lifetime;
  }
  const refreshed = lifetime !== null;
  if (!needsMigration(runtime.migrations, record.schemaVersion)) return { session: new SessionLifecycle<S, F>(runtime, id, record), refreshed };
  // A record written by an older schema version is read migrated; a migration that throws fails the load.
  const { fields, pending } = reportingMigration(runtime, id, record);
  return { session: new SessionLifecycle<S, F>(runtime, id, { ...record, fields }, pending), refreshed };
}

/** The live sessions bound to a user, at most `limit`, most recently used first; `currentRef` marks the caller's. */
export async function userSessions(runtime: SessionRuntime, userId: string, currentRef: string | null, limit: number): Promise<UserSessionInfo[]> {
  const records = await runtime.store.userSessions(userId, Date.now(), limit);
  return records
    .sort((a, b) => b.lastUsedAt - a.lastUsedAt)
    .slice(0, limit)
    .map(({ id, createdAt, lastUsedAt, device }) => {
      const ref = sessionRef(id);
      return { ref, createdAt: new Date(createdAt), lastUsedAt: new Date(lastUsedAt), device: decodeDevice(device), current: ref === currentRef };
    });
}

/** Tells `onEvent` of sessions revoked, USER_BATCH per turn of the event loop: a user may have had very many. */
async function tellRevoked(runtime: SessionRuntime, ids: readonly string[], userId: string, reason: SessionEventReason): Promise<void> {
  for (let at = 0; at < ids.length; at += USER_BATCH) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const id of ids.slice(at, at + USER_BATCH)) runtime.emit('revoked', id, userId, { reason });
  }
}

/**
 * Keeps the user within `maxSessionsPerUser` once `keep` is bound to them: the sessions over it that expire
 * first end, each told as revoked. The binding stands whatever happens here: a failure goes to `onError`,
 * and the next login trims again.
 */
async function trimUserSessions(runtime: SessionRuntime, userId: string, keep: string): Promise<void> {
  try {
    const ended = await runtime.store.trimUserSessions(userId, runtime.maxSessionsPerUser, keep, Date.now());
    await tellRevoked(runtime, ended, userId, 'maxSessionsPerUser');
  } catch (error) {
    runtime.report(error instanceof SessionError ? error : new SessionError('INTERNAL_SERVER_ERROR', 'trimming the user\'s sessions failed', error));
  }
}

/** Ends every session bound to a user, following each through a `regenerate()`, each told to `onEvent` as revoked; resolves to how many there were. */
export async function revokeUser(runtime: SessionRuntime, userId: string): Promise<number> {
  const ended = await runtime.store.revokeSessions(userId, () => true, null);
  await tellRevoked(runtime, ended, userId, 'revokeUser');
  return ended.length;
}

/**
 * Ends the user's session listed under `ref`, following it through a `regenerate()` in progress or just done;
 * resolves to whether there was one to end.
 */
export async function revokeSession(runtime: SessionRuntime, userId: string, ref: string): Promise<boolean> {
  if (typeof userId !== 'string' || typeof ref !== 'string') throw new TypeError('trpc-session: revokeSession needs a user ID and a session ref (strings)');
  const ended = await runtime.store.revokeSessions(userId, (id) => sessionRef(id) === ref, null);
  await tellRevoked(runtime, ended, userId, 'revokeSession');
  return ended.length > 0;
}

/** Ends every session of the session's user but that session; resolves to how many were ended (0 when it is not bound). */
export async function revokeOtherSessions(runtime: SessionRuntime, session: Pick<Session<SessionSchema>, 'id' | 'userId'>): Promise<number> {
  const userId = session.userId;
  if (userId === null) return 0;
  const ended = await runtime.store.revokeSessions(userId, () => true, session.id);
  await tellRevoked(runtime, ended, userId, 'revokeOtherSessions');
  return ended.length;
}

/** Closes what the store opened. */
export function closeStore(runtime: SessionRuntime): Promise<void> {
  return runtime.store.close();
}
