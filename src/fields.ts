import { decodeValue, encodeValue, findUnusable, findUnusableDecoded, storableCopy, storedCopy } from './codec.js';
import { SessionFieldDroppedError, SessionSerializationError, SessionTooLargeError, SessionValidationError } from './errors.js';
import type { SessionRuntime } from './options.js';
import type { FieldSchemas } from './schema.js';
import { exceedsMaxSize } from './stores/store.js';

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
  /** The encoding of a changed value: measured at `put`, or when a change in place is noticed; until it is read or changed again. */
  encoded: Uint8Array | undefined;
  /** Bumped by every put or delete, so a write only marks clean what it actually wrote. */
  version: number;
  /** Put or deleted since the last write. */
  changed: boolean;
  /** The version the write in progress carries (set by `changes`): that write marks the field clean only if it is still this. */
  carried: number;
  /**
   * What msgpackr decoded from `snapshot`, as decoded: zod's parse built the value handed out anew from it. While
   * that value is still this one part for part, it was not changed in place, and need not be encoded to tell.
   */
  decoded: object | undefined;
}

/** The field changes a write carries, with what they were computed from. */
export interface ChangeSet {
  set: Map<string, Uint8Array>;
  remove: string[];
  /** The encoded size of the whole session once the changes are written. */
  size: number;
}

export const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a === b || (a !== undefined && b !== undefined && Buffer.compare(a, b) === 0);

const isObject = (value: unknown) => typeof value === 'object' && value !== null;

/**
 * One session's fields in one request, synchronous and free of I/O: each stored field is decoded and
 * validated when first read, puts are validated at once, changes (in place too) are tracked into the change
 * set of the next write, and the encoded size is accounted for.
 */
export class FieldTable {
  readonly #runtime: SessionRuntime;
  /** The shortened session ID that reports name. */
  readonly #label: () => string;
  readonly #fields = new Map<string, FieldState>();
  /**
   * Stored fields of the schema not read yet, as bytes: a request pays for decoding and validating only the
   * fields it uses (a basket it never looks at costs nothing but its bytes).
   */
  readonly #unread: Map<string, Uint8Array>;
  /** The sum of `#unread`'s bytes once first asked for (see `#unreadSize`), kept up to date from then on. */
  #unreadBytes: number | undefined;
  /** Stored fields the schema no longer has, or that could not be read: removed on the next write. Built when the first is found. */
  #stale: Set<string> | undefined;

  /** `stored` becomes this table's own. */
  constructor(runtime: SessionRuntime, stored: Map<string, Uint8Array> | null, label: () => string) {
    this.#runtime = runtime;
    this.#label = label;
    this.#unread = stored ?? new Map();
    if (stored === null) return;
    for (const key of this.#unread.keys()) {
      if (runtime.fields.has(key)) continue;
      this.#unread.delete(key);
      this.#drop(key, 'the schema has no such field');
    }
  }

  /** The schema's field names. */
  get names(): readonly string[] {
    return this.#runtime.fields.keys;
  }

  get(key: string): unknown {
    const state = this.#field(key);
    if (isObject(state.value)) {
      state.observed = true;
      // It may now be changed in place: the write encodes it afresh.
      state.encoded = undefined;
    }
    return state.value;
  }

  /**
   * Validates and sets the value. Refused with `SessionTooLargeError`, leaving the session unchanged, when the
   * session as this request knows it would break the size rule with it, so the call fails at once whatever the
   * write mode.
   */
  put(key: string, value: unknown): void {
    const state = this.#field(key);
    const valid = this.validate(key, value);
    const encoded = encodeValue(valid);
    const size = this.#knownSize(key) + encoded.length;
    // Within the limit, as nearly every value is, the size the store holds now does not matter: not measured.
    if (size > this.#runtime.maxSize && exceedsMaxSize(this.storedSize(), size, this.#runtime.maxSize)) throw new SessionTooLargeError(size, this.#runtime.maxSize, this.#label());
    state.value = valid;
    this.#changed(state, true);
    state.encoded = encoded;
  }

  has(key: string): boolean {
    return this.#field(key).present;
  }

  delete(key: string): void {
    const state = this.#field(key);
    Object.assign(state, this.#defaultOf(key));
    state.observed = false;
    this.#changed(state, false);
  }

  /** The field's current value and the bytes the store holds for it (`null`: absent), for a compare-and-set. */
  current(key: string): { value: unknown; stored: Uint8Array | null } {
    const state = this.#field(key);
    return { value: state.value, stored: state.stored ?? null };
  }

  /** Takes `bytes` as what the store now holds for the field (another request wrote it), unless it already is. */
  storedElsewhere(key: string, bytes: Uint8Array | null): void {
    if (sameBytes(bytes ?? undefined, this.#field(key).stored)) return;
    this.#fields.set(key, this.#fromStored(key, bytes));
  }

  /** Records that the store now holds `bytes`, the encoding of `value`, for the field (a compare-and-set won). */
  swapped(key: string, value: unknown, bytes: Uint8Array): void {
    const state = this.#field(key);
    Object.assign(state, { value, present: true, stored: bytes, snapshot: bytes, changed: false, version: state.version + 1, decoded: undefined });
  }

  /**
   * Takes `stored` as the record's fields now (a move took them out of the store): fields this request changed
   * keep its changes, the others take the stored bytes. `stored` becomes this table's own.
   */
  rebase(stored: Map<string, Uint8Array>): void {
    this.noteInPlaceChanges();
    this.#unread.clear();
    let unreadBytes = 0;
    for (const [key, bytes] of stored) {
      if (!this.#runtime.fields.has(key)) {
        if (!this.#stale?.has(key)) this.#drop(key, 'the schema has no such field');
      } else if (!this.#fields.has(key)) {
        this.#unread.set(key, bytes);
        unreadBytes += bytes.length;
      } else if (!this.#fields.get(key)!.changed) this.storedElsewhere(key, bytes);
    }
    this.#unreadBytes = unreadBytes;
    for (const [key, state] of this.#fields) if (!state.changed && !stored.has(key)) this.storedElsewhere(key, null);
  }

  /** Marks as changed the objects changed in place; throws as `put` would for a change that cannot be stored. */
  noteInPlaceChanges(): void {
    for (const [key, state] of this.#fields) this.#noteInPlace(key, state);
  }

  /** Validates a value for the field: throws `SessionValidationError` or `SessionSerializationError`. A copy of it, as stored. */
  validate(key: string, value: unknown): unknown {
    return validatedValue(this.#runtime.fields, key, value);
  }

  /** The encoded size of the session with the field's bytes replaced by `bytes`. */
  sizeWith(key: string, bytes: Uint8Array): number {
    let size = bytes.length;
    for (const [other, state] of this.#fields) if (other !== key && state.stored !== undefined) size += state.stored.length;
    size += this.#unreadSize();
    return size;
  }

  /** The bytes of data the store holds for this session, as far as this request knows. */
  storedSize(): number {
    let size = 0;
    for (const state of this.#fields.values()) if (state.stored !== undefined) size += state.stored.length;
    size += this.#unreadSize();
    return size;
  }

  /** The bytes of the stored fields not read yet: measured when first asked for, as most requests never need it. */
  #unreadSize(): number {
    if (this.#unreadBytes === undefined) {
      let size = 0;
      for (const bytes of this.#unread.values()) size += bytes.length;
      this.#unreadBytes = size;
    }
    return this.#unreadBytes;
  }

  /** The session's size with this request's changes, but for the field `except`. */
  #knownSize(except: string): number {
    let size = 0;
    for (const [key, state] of this.#fields) {
      if (key === except || !state.present) continue;
      // A field changed in place since its put counts as its last known encoding: the store has the final say.
      size += (state.changed ? state.encoded?.length : undefined) ?? state.stored?.length ?? 0;
    }
    size += this.#unreadSize();
    return size;
  }

  /**
   * Whether `changes(false)` may find a change: false when no field was put, deleted or handed out as an object
   * (which may have been changed in place) and no stale field waits to be removed.
   */
  mayHaveChanged(): boolean {
    if (this.#stale !== undefined && this.#stale.size > 0) return true;
    for (const state of this.#fields.values()) if (state.changed || state.observed) return true;
    return false;
  }

  /**
   * The changes since the last write: fields put or deleted, objects changed in place (validated now),
   * stale fields to remove. With `everything`, every present field, as a new record needs.
   */
  changes(everything: boolean): ChangeSet {
    // A new record (a regenerated session) carries only fields that are still valid: read them all first.
    if (everything && this.#unread.size > 0) for (const key of [...this.#unread.keys()]) this.#field(key);
    const changes: ChangeSet = { set: new Map(), remove: this.#stale === undefined || this.#stale.size === 0 ? [] : [...this.#stale], size: this.#unreadSize() };
    for (const [key, state] of this.#fields) {
      this.#noteInPlace(key, state);
      if (state.changed && !state.present) {
        // Removed whatever this request saw, so a concurrent writer's value goes too.
        changes.remove.push(key);
        state.carried = state.version;
        continue;
      }
      if (!state.present) continue;
      const bytes = state.changed ? (state.encoded ?? encodeValue(state.value)) : state.stored!;
      changes.size += bytes.length;
      if (everything || state.changed) {
        changes.set.set(key, bytes);
        state.carried = state.version;
      }
    }
    return changes;
  }

  /** Marks as stored what `changes` wrote, unless a field changed again since. */
  written(changes: ChangeSet): void {
    for (const key of changes.remove) {
      this.#stale?.delete(key);
      const state = this.#fields.get(key);
      if (state !== undefined && state.carried === state.version) {
        state.stored = undefined;
        state.changed = false;
      }
    }
    for (const [key, bytes] of changes.set) {
      const state = this.#fields.get(key)!;
      state.stored = bytes;
      if (state.carried === state.version) {
        state.snapshot = bytes;
        state.decoded = undefined;
        state.changed = false;
      }
    }
  }

  /**
   * Notices whether an object read from the session was changed in place (after a put, delete or persist too);
   * such a change is validated as a put would have been, keeping the object the procedure holds so that its
   * later changes are seen too. The encoding that noticed it is the one written.
   */
  #noteInPlace(key: string, state: FieldState): void {
    if (!state.observed) return;
    if (state.decoded !== undefined && sameTree(state.value, state.decoded)) return;
    // Checked before it is encoded, in one walk: an object nested thousands deep in place would overflow
    // msgpackr's stack, and what is encoded is this object itself, so it is what must be storable.
    const unusable = findUnusable(state.value, key, this.#runtime.fields.maxParts);
    if (unusable !== null) throw new SessionSerializationError(key, unusable.path, unusable.reason);
    const encoded = encodeValue(state.value);
    if (!sameBytes(encoded, state.snapshot)) {
      const parsed = this.#runtime.fields.parse(key, state.value, true);
      if (!parsed.ok) throw new SessionValidationError(key, parsed.issues);
      this.#changed(state, true);
    }
    // Whatever changed it (a put, then a change in place), the value is now this.
    if (state.changed) state.encoded = encoded;
  }

  /** Records a put or delete for the next write; the version lets that write mark clean only what it carried. */
  #changed(state: FieldState, present: boolean): void {
    state.encoded = undefined;
    state.decoded = undefined;
    state.present = present;
    state.changed = true;
    state.version++;
  }

  #field(key: string): FieldState {
    let state = this.#fields.get(key);
    if (state === undefined) {
      if (!this.#runtime.fields.has(key)) throw new SessionValidationError(key, 'the schema has no such field');
      const bytes = this.#unread.get(key);
      if (bytes !== undefined) {
        this.#unread.delete(key);
        if (this.#unreadBytes !== undefined) this.#unreadBytes -= bytes.length;
      }
      state = this.#fromStored(key, bytes ?? null);
      this.#fields.set(key, state);
    }
    return state;
  }

  #fromStored(key: string, bytes: Uint8Array | null): FieldState {
    if (bytes !== null) {
      const value = this.#readStored(key, bytes);
      if (value !== undefined) {
        const { parsed, decoded } = value;
        return { value: parsed, present: true, stored: bytes, snapshot: bytes, observed: false, encoded: undefined, version: 0, changed: false, carried: -1, decoded };
      }
    }
    // Built property by property in the same order as above: a spread here made every field state a
    // slow-path object clone (a third of the CPU of a read of an unset field).
    const { value, snapshot } = this.#defaultOf(key);
    return { value, present: false, stored: bytes ?? undefined, snapshot, observed: false, encoded: undefined, version: 0, changed: false, carried: -1, decoded: undefined };
  }

  /** The field's default, unshared, with its encoding to notice changes made to it in place. */
  #defaultOf(key: string): { value: unknown; snapshot: Uint8Array | undefined } {
    const value = this.#runtime.fields.defaultOf(key);
    if (!isObject(value)) return { value, snapshot: undefined };
    return { value: storedCopy(value), snapshot: encodeValue(value) };
  }

  /** Decodes and validates a stored field; reports and returns undefined when it cannot be used. */
  #readStored(key: string, bytes: Uint8Array): { parsed: unknown; decoded: object | undefined } | undefined {
    const read = storedValue(this.#runtime.fields, key, bytes, 'schema');
    if ('unusable' in read) {
      this.#drop(key, read.unusable);
      return undefined;
    }
    // zod may hand out objects it shares between parses (a `.catch()` value is the same object every time), or
    // frozen ones: changed in place, a shared value would show in every other session. Else the value is the
    // decoded bytes' own.
    const { value, decoded } = read;
    const parsed = isObject(value) && this.#runtime.fields.mayShareOutput(key) ? storedCopy(value) : value;
    // Kept only when the value is an object of its own: one zod returned as it was given shares every part.
    return { parsed, decoded: isObject(parsed) && isObject(decoded) && parsed !== decoded ? (decoded as object) : undefined };
  }

  #drop(key: string, reason: string) {
    (this.#stale ??= new Set()).add(key);
    this.#runtime.report(new SessionFieldDroppedError(this.#label(), key, reason));
  }
}

/**
 * Whether `value` is still, part for part, `decoded` (what msgpackr decoded from a field's stored bytes, from
 * which zod's parse built `value` anew): the same plain objects and arrays, keys in the same order, the same
 * primitives. Then it encodes as those bytes, and is as storable as when it was read. False when in doubt: an
 * object of `decoded` found anywhere in `value` (zod hands out what `z.unknown()` decoded as it is, and an
 * `.overwrite()` may move it: a change to it would show in both), or any other kind of object; the caller then
 * encodes the value to tell. `decoded` was measured when read, so the walks are as bounded as it.
 */
function sameTree(value: unknown, decoded: unknown): boolean {
  const pairs: Pairs = { values: [], decoded: [] };
  if (!sameParts(value, decoded, pairs)) return false;
  // The two trees have the same shape, so the walk met every decoded object: none may be in the value.
  if (pairs.values.length > 32) {
    const decodedObjects = new Set(pairs.decoded);
    return !pairs.values.some((part) => decodedObjects.has(part));
  }
  return !pairs.values.some((part) => pairs.decoded.includes(part));
}

/** The objects `sameParts` met, on each side. */
interface Pairs {
  values: object[];
  decoded: object[];
}

function sameParts(value: unknown, decoded: unknown, pairs: Pairs): boolean {
  if (!isObject(value)) return value === decoded;
  if (!isObject(decoded)) return false;
  pairs.values.push(value as object);
  pairs.decoded.push(decoded as object);
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.getPrototypeOf(decoded)) return false;
  if (prototype === Array.prototype) {
    const [values, parts] = [value as unknown[], decoded as unknown[]];
    if (values.length !== parts.length) return false;
    for (let index = 0; index < values.length; index++) if (!sameParts(values[index], parts[index], pairs)) return false;
    return true;
  }
  // A symbol-keyed property added in place is refused, as when the value is encoded.
  if ((prototype !== Object.prototype && prototype !== null) || Object.getOwnPropertySymbols(value).length > 0) return false;
  const [keys, decodedKeys] = [Object.keys(value), Object.keys(decoded)];
  if (keys.length !== decodedKeys.length) return false;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    if (key !== decodedKeys[index] || !sameParts((value as Record<string, unknown>)[key], (decoded as Record<string, unknown>)[key], pairs)) return false;
  }
  return true;
}

/**
 * A value for field `key` of `schemas` (the data schema's or the flash schema's), validated and checked
 * storable: throws `SessionValidationError` or `SessionSerializationError`. Returned as a copy, as the store
 * would give it back: neither the caller's objects nor those zod shares between parses (a `.catch()` value is
 * the same object every time, a `.default()` value is copied only shallowly) are kept.
 */
export function validatedValue(schemas: FieldSchemas, key: string, value: unknown): unknown {
  const parsed = schemas.parse(key, value);
  if (!parsed.ok) {
    const { unstorable } = parsed;
    throw unstorable ? new SessionSerializationError(key, unstorable.path, unstorable.reason) : new SessionValidationError(key, parsed.issues);
  }
  const stored = storableCopy(parsed.value, key);
  if ('unstorable' in stored) throw new SessionSerializationError(key, stored.unstorable.path, stored.unstorable.reason);
  return stored.copy;
}

/**
 * Stored bytes of field `key` read back and validated by `schemas` (called `schemaName` in the reason); or why
 * they cannot be used, in words that never quote the bytes.
 */
export function storedValue(schemas: FieldSchemas, key: string, bytes: Uint8Array, schemaName: string): { value: unknown; decoded: unknown } | { unusable: string } {
  let decoded: unknown;
  try {
    decoded = decodeValue(bytes);
  } catch {
    // Not msgpackr's message: it quotes the start of what it decoded, which is session data.
    return { unusable: 'its bytes are not valid msgpack' };
  }
  // msgpackr reads some invalid bytes (0xc1) as placeholder objects rather than failing; a value can also nest
  // too deep or hold a cycle (msgpackr's record extension), or share objects (too many parts for zod to walk).
  // Checked and measured in one walk. The reason, never the path: it names stored keys.
  const unusable = findUnusableDecoded(decoded, key, schemas.maxParts);
  if (unusable?.unstorable) return { unusable: `its value is not one a session can hold (${unusable.reason})` };
  if (unusable) return { unusable: `it no longer matches the ${schemaName}: ${unusable.reason} at ${unusable.path}` };
  const parsed = schemas.parse(key, decoded, true);
  return parsed.ok ? { value: parsed.value, decoded } : { unusable: `it no longer matches the ${schemaName}: ${parsed.issues}` };
}
