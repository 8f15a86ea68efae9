import { decodeValue, encodeValue, findUnstorable } from './codec.js';
import { SessionMigrationError, withheldCause } from './errors.js';

/**
 * A stored session's data fields by name, decoded but not validated: what a migration is given and returns.
 * The values are what the version that wrote them stored (a `Date`, a `Map`, an array of items…), typed
 * `unknown` because no schema but that version's describes them.
 */
export type StoredSessionFields = Record<string, unknown>;

/**
 * Turns the fields of a record written by the version before it into the fields of its version: the fields
 * to keep, each under its name in that version. A field left out is removed from the record; a value
 * `undefined` is the same as leaving it out. It may change its argument and return it. It must be synchronous
 * and must not throw for data its version may find (a throw fails the request and leaves the record as it was).
 */
export type SessionMigration = (fields: StoredSessionFields) => StoredSessionFields;

/**
 * `createSessionManager`'s `migrations`: migration `N` turns a record written by version `N - 1` into version
 * `N`. Keys are whole numbers from 2 to `schemaVersion`; a version without one changed the schema without
 * changing stored data (a new optional field).
 */
export type SessionMigrations = { readonly [version: number]: SessionMigration };

/** The migrations of a manager, checked, and the version they lead to. */
export interface MigrationPlan {
  readonly schemaVersion: number;
  /** The migrations by version, in order. */
  readonly steps: readonly (readonly [version: number, migrate: SessionMigration])[];
}

/** What migrating a record's fields made of them. */
export interface MigratedFields {
  /** The record's data fields after every migration, as bytes: unchanged fields keep their stored bytes. */
  fields: Map<string, Uint8Array>;
  /** The fields the migrations changed or added, and those they removed: what the next write carries. */
  set: Map<string, Uint8Array>;
  remove: string[];
}

const shown = (value: unknown) => (typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value)));

/** Checks the `migrations` option against `schemaVersion`: a `TypeError` naming `migrations` for any mistake. */
export function resolveMigrations(migrations: unknown, schemaVersion: number): MigrationPlan {
  if (migrations === undefined) return { schemaVersion, steps: [] };
  if (typeof migrations !== 'object' || migrations === null || Array.isArray(migrations)) {
    throw new TypeError(`trpc-session: \`migrations\` must be an object of functions keyed by schema version, such as { 2: (fields) => fields } (got ${shown(migrations)})`);
  }
  const steps: [number, SessionMigration][] = [];
  for (const [key, migrate] of Object.entries(migrations)) {
    const version = Number(key);
    if (!/^[1-9]\d*$/.test(key) || !Number.isSafeInteger(version) || version < 2 || version > schemaVersion) {
      throw new TypeError(
        `trpc-session: \`migrations\` has a migration keyed "${key}": each key is the whole number of the version it migrates to, ` +
          `from 2 to schemaVersion (${schemaVersion})${version > schemaVersion ? '; did you forget to raise schemaVersion?' : ''}`,
      );
    }
    if (typeof migrate !== 'function') {
      throw new TypeError(`trpc-session: \`migrations\`[${key}] must be a function from the stored fields to the migrated ones (got ${shown(migrate)})`);
    }
    steps.push([version, migrate as SessionMigration]);
  }
  // Integer-like keys of an object iterate in ascending order already; sorted to say so.
  steps.sort(([a], [b]) => a - b);
  return { schemaVersion, steps };
}

/** Whether a record written by `version` needs migrating: written by an older version that has migrations since. */
export function needsMigration(plan: MigrationPlan, version: number): boolean {
  return version < plan.schemaVersion && plan.steps.some(([step]) => step > version);
}

/**
 * Runs the migrations after `fromVersion`, in order, over a record's data fields. Throws
 * `SessionMigrationError` when one throws or returns what a session cannot hold; `stored` is never changed.
 * Fields whose bytes do not decode are left out of the migrations' input and kept as they are, to be dropped
 * (and reported) when first read, as without migrations.
 */
export function migrateFields(plan: MigrationPlan, stored: ReadonlyMap<string, Uint8Array>, fromVersion: number, session: string): MigratedFields {
  const fields: StoredSessionFields = {};
  const undecodable = new Map<string, Uint8Array>();
  for (const [name, bytes] of stored) {
    try {
      Object.defineProperty(fields, name, { value: decodeValue(bytes), enumerable: true, writable: true, configurable: true });
    } catch {
      undecodable.set(name, bytes);
    }
  }
  let current = fields;
  for (const [version, migrate] of plan.steps) {
    if (version <= fromVersion) continue;
    const fail = (reason: string, cause?: unknown) => new SessionMigrationError(session, fromVersion, version, reason, cause === undefined ? undefined : withheldCause(cause));
    let result: unknown;
    try {
      result = migrate(current);
    } catch (error) {
      throw fail('it threw', error);
    }
    if (typeof result !== 'object' || result === null || Array.isArray(result)) throw fail('it did not return an object of fields');
    current = result as StoredSessionFields;
  }
  let changes: MigratedFields | string;
  try {
    changes = changesOf(current, stored, undecodable);
  } catch (error) {
    // A getter in the result that throws, a value msgpackr refuses.
    throw new SessionMigrationError(session, fromVersion, plan.schemaVersion, 'its result could not be read', withheldCause(error));
  }
  if (typeof changes === 'string') throw new SessionMigrationError(session, fromVersion, plan.schemaVersion, changes);
  return changes;
}

/** The migrated fields as bytes and what changed from `stored`, or why a value of the result cannot be stored. */
function changesOf(current: StoredSessionFields, stored: ReadonlyMap<string, Uint8Array>, undecodable: Map<string, Uint8Array>): MigratedFields | string {
  const migrated: MigratedFields = { fields: undecodable, set: new Map(), remove: [] };
  for (const name of Object.keys(current)) {
    const value = current[name];
    if (value === undefined) continue;
    const unstorable = findUnstorable(value, name);
    if (unstorable !== null) {
      const field = /^[\w$-]{1,64}$/.test(name) ? ` for field "${name}"` : '';
      return `it returned a value a session cannot hold${field} (${unstorable.reason})`;
    }
    const bytes = encodeValue(value);
    const before = stored.get(name);
    // Unchanged fields keep the bytes the store holds, so the write-back carries only what the migrations changed.
    if (before !== undefined && Buffer.compare(before, bytes) === 0) migrated.fields.set(name, before);
    else {
      migrated.fields.set(name, bytes);
      migrated.set.set(name, bytes);
    }
  }
  for (const name of stored.keys()) if (!migrated.fields.has(name)) migrated.remove.push(name);
  return migrated;
}
