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
export function findUnstorable(value: unknown, path: string, ancestors: unknown[] = []): UnstorablePart | null {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return null;
    case 'function':
      return { path, reason: 'a function' };
    case 'symbol':
      return { path, reason: 'a symbol' };
  }
  if (value === null || value instanceof Date || value instanceof Uint8Array) return null;
  if (ancestors.includes(value)) return { path, reason: 'a circular reference' };
  const inner = [...ancestors, value];
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = findUnstorable(value[index], `${path}[${index}]`, inner);
      if (found) return found;
    }
    return null;
  }
  if (value instanceof Map) {
    for (const [key, entry] of value) {
      const found = findUnstorable(key, `${path}<key>`, inner) ?? findUnstorable(entry, `${path}.get(${String(key)})`, inner);
      if (found) return found;
    }
    return null;
  }
  if (value instanceof Set) {
    for (const entry of value) {
      const found = findUnstorable(entry, `${path}<entry>`, inner);
      if (found) return found;
    }
    return null;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    return { path, reason: `an instance of ${prototype?.constructor?.name ?? 'a class'}` };
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return { path, reason: 'a symbol-keyed property' };
  for (const [key, entry] of Object.entries(value as object)) {
    const found = findUnstorable(entry, `${path}.${key}`, inner);
    if (found) return found;
  }
  return null;
}
