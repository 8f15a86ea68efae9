import { encodeValue } from './codec.js';
import { SessionFieldDroppedError, SessionValidationError } from './errors.js';
import { storedValue, validatedValue } from './fields.js';
import type { SessionRuntime } from './options.js';
import { FLASH_FIELD_PREFIX } from './schema.js';

/**
 * Takes the flash values out of a record's fields (names that start with `flash:`), leaving its data fields.
 * Returns them by flash name.
 */
export function takeFlashFields(fields: Map<string, Uint8Array>): Map<string, Uint8Array> | undefined {
  // Undefined when there are none, as in most records: no map is built for them.
  let flash: Map<string, Uint8Array> | undefined;
  for (const name of fields.keys()) {
    if (!name.startsWith(FLASH_FIELD_PREFIX)) continue;
    (flash ??= new Map()).set(name.slice(FLASH_FIELD_PREFIX.length), fields.get(name)!);
    fields.delete(name);
  }
  return flash;
}

/** What a write carries of a session without flash values: nothing. Never changed. */
export const NO_FLASH_CHANGES = { set: new Map<string, Uint8Array>() as ReadonlyMap<string, Uint8Array>, remove: [] as readonly string[], size: 0 };

/** The record's field name of a flash value. */
export const flashField = (key: string) => FLASH_FIELD_PREFIX + key;

/**
 * One session's flash values in one request: those the record held when loaded (as bytes, decoded only when
 * taken), those set by this request and not written yet, and stored ones the flash schema no longer has.
 */
export class FlashTable {
  readonly #runtime: SessionRuntime;
  readonly #label: () => string;
  /** What the store holds, as far as this request knows, by flash name. */
  #stored: Map<string, Uint8Array>;
  /** Set by this request, not written yet: the value as validated and its bytes. */
  readonly #pending = new Map<string, { value: unknown; bytes: Uint8Array }>();
  /** Stored values of names the flash schema does not have: removed on the next write. */
  readonly #stale = new Set<string>();

  /** `stored` (undefined: none) becomes this table's own. */
  constructor(runtime: SessionRuntime, stored: Map<string, Uint8Array> | undefined, label: () => string) {
    this.#runtime = runtime;
    this.#label = label;
    this.#stored = stored ?? new Map();
    this.#dropUnknown();
  }

  /** Validates and encodes a value for the next write; throws as `data.put` does for a value it refuses. */
  set(key: string, value: unknown): void {
    const schemas = this.#runtime.flash;
    if (schemas === null || !schemas.has(key)) throw new SessionValidationError(key, 'the flash schema has no such value');
    const valid = validatedValue(schemas, key, value);
    this.#pending.set(key, { value: valid, bytes: encodeValue(valid) });
  }

  /** Removes and returns the value this request set and has not written, if any. */
  unsetPending(key: string): { value: unknown } | undefined {
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    return pending;
  }

  /** The bytes the store holds for the value, as far as this request knows. */
  stored(key: string): Uint8Array | undefined {
    return this.#stored.get(key);
  }

  /** Takes `bytes` as what the store now holds for the value (`undefined`: none). */
  storedElsewhere(key: string, bytes: Uint8Array | undefined): void {
    if (bytes === undefined) this.#stored.delete(key);
    else this.#stored.set(key, bytes);
  }

  /** The value of stored bytes, validated; `undefined`, reported, when they cannot be read. */
  decode(key: string, bytes: Uint8Array): unknown {
    const read = storedValue(this.#runtime.flash!, key, bytes, 'flash schema');
    return 'unusable' in read ? this.#dropped(key, read.unusable) : read.value;
  }

  /** Takes `stored` as the record's flash values now (a move took them out of the store). */
  rebase(stored: Map<string, Uint8Array> | undefined): void {
    this.#stored = stored ?? new Map();
    this.#dropUnknown();
  }

  /** The bytes of the flash values the store holds, as far as this request knows. */
  storedSize(): number {
    let size = 0;
    for (const bytes of this.#stored.values()) size += bytes.length;
    return size;
  }

  /** Whether the next write carries a change of the flash values: one set, or a stale one to remove. */
  changed(): boolean {
    return this.#pending.size > 0 || this.#stale.size > 0;
  }

  /**
   * What the next write carries, by record field name: the values set, and with `everything` (a new record)
   * the stored ones too; the stale ones to remove; and the bytes of flash values the record holds after it.
   */
  changes(everything: boolean): { set: ReadonlyMap<string, Uint8Array>; remove: readonly string[]; size: number } {
    // No flash values at all, as in most sessions: nothing to build.
    if (this.#stored.size === 0 && this.#pending.size === 0 && this.#stale.size === 0) return NO_FLASH_CHANGES;
    const set = new Map<string, Uint8Array>();
    let size = 0;
    for (const [key, bytes] of this.#stored) {
      if (this.#pending.has(key)) continue;
      size += bytes.length;
      if (everything) set.set(flashField(key), bytes);
    }
    for (const [key, { bytes }] of this.#pending) {
      size += bytes.length;
      set.set(flashField(key), bytes);
    }
    return { set, remove: [...this.#stale].map(flashField), size };
  }

  /** Records as stored what a write carried (`set`, by record field name); a value set again since stays to write. */
  written(set: ReadonlyMap<string, Uint8Array>): void {
    this.#stale.clear();
    for (const [name, bytes] of set) {
      const key = name.slice(FLASH_FIELD_PREFIX.length);
      this.#stored.set(key, bytes);
      if (this.#pending.get(key)?.bytes === bytes) this.#pending.delete(key);
    }
  }

  #dropUnknown(): void {
    if (this.#stored.size === 0) return;
    for (const key of [...this.#stored.keys()]) {
      if (this.#runtime.flash?.has(key)) continue;
      this.#stored.delete(key);
      // Reported when first read: a move or a re-read finds it again.
      if (this.#stale.has(key)) continue;
      this.#stale.add(key);
      this.#report(key, 'the flash schema has no such value');
    }
  }

  #dropped(key: string, reason: string): undefined {
    this.#report(key, reason);
    return undefined;
  }

  #report(key: string, reason: string): void {
    this.#runtime.report(new SessionFieldDroppedError(this.#label(), key, `(a flash value) ${reason}`));
  }
}
