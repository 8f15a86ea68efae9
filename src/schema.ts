import type * as z from 'zod/v4';
import { findUnwalkable, shownKey, type UnstorablePart } from './codec.js';
import { withheldCause } from './errors.js';

/** A zod object schema describing a session's fields. Each field must accept absence (`.optional()`,
 * `.default(…)` or `.catch(…)`), because every session starts empty. */
export type SessionSchema = z.ZodObject;

/** The flash schema of a manager made without `flash`: no flash values. */
export type NoFlash = z.ZodObject<Record<never, never>>;

/** The data of a session of schema `S`, with defaults applied: what `session.data.all()` returns. */
export type SessionDataOf<S extends SessionSchema> = z.output<S>;

/** Whether a new session, which lacks the field, passes it: its input allows undefined, or `.catch()` stands in. */
type AcceptsAbsence<F> = F extends z.ZodCatch ? true : undefined extends z.input<F> ? true : false;

/** Fails to type-check, with a readable message, a schema that has a field a new (empty) session lacks. */
export type RequireOptionalFields<S extends SessionSchema> = false extends {
  [K in keyof S['shape']]: AcceptsAbsence<S['shape'][K]>;
}[keyof S['shape']]
  ? { 'every session field needs .optional(), .default() or .catch(), since a new session starts empty': never }
  : unknown;

/** A failed parse; `unstorable` when the value was refused before validation, as too costly to walk or store. */
export type FieldParseResult = { ok: true; value: unknown } | { ok: false; issues: string; unstorable?: UnstorablePart };

/**
 * The issues by code and path, never by zod's message: a message can quote the data (an unrecognized key that
 * is an e-mail address), and paths show only indexes and identifier-like keys (see `shownKey`).
 */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const expected = issue.code === 'invalid_type' ? ` (expected ${issue.expected})` : '';
      const path = issue.path
        .map((key) => {
          const shown = shownKey(key);
          return typeof key === 'number' || shown === '…' ? `[${shown}]` : `.${shown}`;
        })
        .join('');
      return `${path === '' ? 'the value' : path.replace(/^\./, '')}: ${issue.code}${expected}`;
    })
    .join('; ');
}

type ZodDef = Record<string, unknown> & { type: string };

/** Whether `test` holds for the definition of a zod schema or of any inside it. Walks zod's own definitions, whatever their kind. */
function containsDef(schema: unknown, test: (def: ZodDef) => boolean, seen = new Set<unknown>()): boolean {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } } | null)?._zod?.def;
  if (def === undefined || typeof def.type !== 'string' || seen.has(schema)) return false;
  seen.add(schema);
  if (test(def as ZodDef)) return true;
  const children: unknown[] = def.type === 'lazy' ? [(def.getter as () => unknown)()] : [];
  for (const [key, value] of Object.entries(def)) {
    // Checks (.refine(), .trim(), .toLowerCase()) leave their own output as it is when run again; defaults are data.
    if (key === 'checks' || key === 'defaultValue' || key === 'catchValue' || value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) children.push(...value);
    else if ('_zod' in value) children.push(value);
    else children.push(...Object.values(value)); // an object's shape
  }
  return children.some((child) => containsDef(child, test, seen));
}

/** Whether a zod schema runs a transform anywhere inside it. */
const containsTransform = (schema: unknown) => containsDef(schema, (def) => def.type === 'transform' || (def.type === 'pipe' && typeof def.transform === 'function'));

/**
 * Whether a parse by a zod schema can return objects that are not the input's own: the value of a `.default()`,
 * `.prefault()` or `.catch()` (the same object every time, or a shallow copy), or a `.readonly()` output (frozen).
 */
const mayShareOutput = (schema: unknown) => containsDef(schema, (def) => def.type === 'default' || def.type === 'prefault' || def.type === 'catch' || def.type === 'readonly');

/**
 * The start of the names under which flash values are kept in a session's record, beside its data fields: no
 * field of `schema` may start with it.
 */
export const FLASH_FIELD_PREFIX = 'flash:';

/**
 * Validation one field at a time, so a `put` checks only what it changes and a stale stored field can be
 * dropped without losing the others.
 */
export class FieldSchemas {
  readonly keys: readonly string[];
  readonly #fields: ReadonlyMap<string, z.ZodType>;
  /** The most parts a value may have, counted as zod walks it (a shared object at every place it appears). */
  readonly maxParts: number;
  /** The fields whose parse may return objects that are not the input's own (see `mayShareOutput`). */
  readonly #sharingOutput = new Set<string>();

  /**
   * `maxParts`: the session's `maxSize`, as a value of more parts could not be written in fewer bytes without
   * sharing. `option`: the option the schema was given as, `schema` (the data) or `flash` (whose values are set
   * before they are read, so they need not accept absence).
   */
  constructor(schema: SessionSchema, maxParts: number, option: 'schema' | 'flash' = 'schema') {
    this.maxParts = maxParts;
    if (!schema || typeof schema !== 'object' || !('shape' in schema)) {
      throw new TypeError(`trpc-session: \`${option}\` must be a zod object schema, such as z.object({ ... })`);
    }
    // A zod 3 schema (zod 3.25's own `zod`, or an older zod 3 past npm's peer check) has no `_zod`: its transforms
    // could not be told apart.
    if (!('_zod' in schema)) {
      throw new TypeError(`trpc-session: \`${option}\` is a zod 3 schema; trpc-session needs zod 4: install zod@4, or with zod 3.25 import z from 'zod/v4'`);
    }
    this.#fields = new Map(Object.entries(schema.shape as Record<string, z.ZodType>));
    this.keys = [...this.#fields.keys()];
    for (const [key, field] of this.#fields) {
      if (mayShareOutput(field)) this.#sharingOutput.add(key);
      if (option === 'schema' && key.startsWith(FLASH_FIELD_PREFIX)) {
        throw new TypeError(`trpc-session: session field "${key}" starts with "${FLASH_FIELD_PREFIX}", which names flash values in the store: rename it`);
      }
      if (option === 'flash') {
        if (containsTransform(field)) {
          throw new TypeError(`trpc-session: flash field "${key}" has a transform (.transform(), z.preprocess or z.codec): keep flash values plain data`);
        }
        continue;
      }
      if (!field.safeParse(undefined).success) {
        throw new TypeError(
          `trpc-session: session field "${key}" must accept absence (.optional(), .default(...) or .catch(...)), since a new session starts empty`,
        );
      }
      if (containsTransform(field)) {
        throw new TypeError(
          `trpc-session: session field "${key}" has a transform (.transform(), z.preprocess or z.codec): a stored value is ` +
            'validated again when it is read back, so it would be transformed twice. Keep session fields plain data and transform in the procedure',
        );
      }
    }
  }

  has(key: string): boolean {
    return this.#fields.has(key);
  }

  /** Validates a field's value. A schema that throws (an async refinement, a check that throws) is a bug in
   * the schema, not in the data: it throws a TypeError rather than reporting the value invalid, so stored
   * data is never dropped for it. */
  parse(key: string, value: unknown, measured = false): FieldParseResult {
    // zod walks a value as a tree: one with shared references, nested deep, could take it minutes. Measured first,
    // linearly, unless the caller just did (`measured`, with `findUnwalkable` or `findUnusable`).
    const unwalkable = measured ? null : findUnwalkable(value, key, this.maxParts);
    if (unwalkable !== null) return { ok: false, issues: `${unwalkable.reason} at ${unwalkable.path}`, unstorable: unwalkable };
    let result: z.ZodSafeParseResult<unknown>;
    try {
      result = this.#fields.get(key)!.safeParse(value);
    } catch (error) {
      throw new TypeError(
        `trpc-session: validating session field "${key}" threw: session fields are validated synchronously, so ` +
          'async refinements are not supported, and a check must return false rather than throw',
        // What the check threw may quote the value (`new URL(value)` keeps it as `input`).
        { cause: withheldCause(error) },
      );
    }
    return result.success ? { ok: true, value: result.data } : { ok: false, issues: describeIssues(result.error) };
  }

  /**
   * Whether the field's parse of a value of its own (one just decoded) may still return objects that other
   * parses return too, or frozen ones: those must be copied before a request may change them in place.
   */
  mayShareOutput(key: string): boolean {
    return this.#sharingOutput.has(key);
  }

  /** The field's value in a session that never set it: its default, or undefined. zod may hand out the same
   * objects each time (`.catch()`, the inside of `.default()`): copy before handing it on. */
  defaultOf(key: string): unknown {
    return this.#fields.get(key)!.safeParse(undefined).data;
  }
}
