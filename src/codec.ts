import { Packr } from 'msgpackr';

/**
 * msgpackr with records (so plain objects and `Map`s stay apart), structured clone (`Set`, `Map`, `Date`,
 * `BigInt`, typed arrays) and no shared structures, so every stored value decodes on its own, in any
 * process, after any deploy.
 */
const packr = new Packr({ useRecords: true, moreTypes: true, structuredClone: true, mapsAsObjects: false });

export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws when the bytes are not a whole msgpack value. */
export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** What `copyPlain` returns for a value it leaves to the codec. */
const NOT_PLAIN = Symbol('not plain');

/**
 * A deep copy of a storable value, the same as storing it and reading it back would give
 * (`decodeValue(encodeValue(value))`), including references shared within it. Plain objects, arrays and
 * primitives, which most session data is, are copied directly, at a small fraction of the round trip's cost;
 * a value holding anything else (a `Date`, `Map`, `Set`, bytes, a `__proto__` key) takes the round trip.
 */
export function storedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return copyPrimitive(value);
  const copy = copyPlain(value, new Map());
  return copy === NOT_PLAIN ? decodeValue(encodeValue(value)) : copy;
}

/** msgpack has no negative zero: it is stored, and read back, as 0. */
const copyPrimitive = (value: unknown) => (value === 0 ? 0 : value);

/** The copy of a tree of plain objects and arrays, or NOT_PLAIN. `copies` maps what was copied to its copy. */
function copyPlain(value: object, copies: Map<object, unknown>): unknown {
  const known = copies.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    copies.set(value, copy);
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      const itemCopy = typeof item === 'object' && item !== null ? copyPlain(item, copies) : copyPrimitive(item);
      if (itemCopy === NOT_PLAIN) return NOT_PLAIN;
      copy[index] = itemCopy;
    }
    return copy;
  }
  const prototype = Object.getPrototypeOf(value);
  // msgpackr renames a "__proto__" key rather than set a prototype: left to it, to be read back the same.
  if ((prototype !== Object.prototype && prototype !== null) || Object.hasOwn(value, '__proto__')) return NOT_PLAIN;
  const copy: Record<string, unknown> = {};
  copies.set(value, copy);
  for (const key of Object.keys(value)) {
    const entry: unknown = (value as Record<string, unknown>)[key];
    const entryCopy = typeof entry === 'object' && entry !== null ? copyPlain(entry, copies) : copyPrimitive(entry);
    if (entryCopy === NOT_PLAIN) return NOT_PLAIN;
    copy[key] = entryCopy;
  }
  return copy;
}

/** Where a value that msgpackr would not read back as itself was found, and why. */
export interface UnstorablePart {
  path: string;
  reason: string;
}

/**
 * Finds the first part of `value` that would not survive a round trip through the codec: msgpackr writes a
 * function as nothing and a class instance as a plain object, so they are refused here instead of being
 * silently changed. Returns `null` when everything is storable.
 */
export function findUnstorable(value: unknown, path: string): UnstorablePart | null {
  const found = unstorableIn(value, []);
  return found && { path: path + found.steps.reverse().join(''), reason: found.reason };
}

type Unstorable = { steps: string[]; reason: string };

/** A refusal found inside a container, with the container's step to it added to the path. */
function via(found: Unstorable, step: string): Unstorable {
  found.steps.push(step);
  return found;
}

/**
 * The walk behind `findUnstorable`. It runs on every load and put of an object field, so a path is built
 * only for a value it refuses (its steps collected innermost first on the way out), and `ancestors` is one
 * stack for the whole walk rather than a copy per level.
 */
function unstorableIn(value: unknown, ancestors: unknown[]): Unstorable | null {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return null;
    case 'function':
      return { steps: [], reason: 'a function' };
    case 'symbol':
      return { steps: [], reason: 'a symbol' };
  }
  if (value === null || value instanceof Date || value instanceof Uint8Array) return null;
  if (ancestors.includes(value)) return { steps: [], reason: 'a circular reference' };
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const found = unstorableIn(value[index], ancestors);
        if (found) return via(found, `[${index}]`);
      }
      return null;
    }
    if (value instanceof Map) {
      for (const [key, entry] of value) {
        const inKey = unstorableIn(key, ancestors);
        if (inKey) return via(inKey, '<key>');
        const inEntry = unstorableIn(entry, ancestors);
        if (inEntry) return via(inEntry, `.get(${String(key)})`);
      }
      return null;
    }
    if (value instanceof Set) {
      for (const entry of value) {
        const found = unstorableIn(entry, ancestors);
        if (found) return via(found, '<entry>');
      }
      return null;
    }
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      return { steps: [], reason: `an instance of ${prototype?.constructor?.name ?? 'a class'}` };
    }
    if (Object.getOwnPropertySymbols(value).length > 0) return { steps: [], reason: 'a symbol-keyed property' };
    for (const key of Object.keys(value as object)) {
      const found = unstorableIn((value as Record<string, unknown>)[key], ancestors);
      if (found) return via(found, `.${key}`);
    }
    return null;
  } finally {
    ancestors.pop();
  }
}
