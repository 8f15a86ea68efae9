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

/**
 * How deeply a session value may nest. Every walk over a value (msgpackr's, zod's, the checks here) recurses,
 * so a deeper value is refused with a clear error rather than overflowing the stack or taking seconds.
 */
export const MAX_DEPTH = 64;

/** Where a value that msgpackr would not read back as itself was found, and why. */
export interface UnstorablePart {
  path: string;
  reason: string;
}

/**
 * A key as a path shows it. Keys are the value's own data (a record keyed by e-mail address), so only a number
 * or a short identifier-like key is shown, any other as `…`: errors never quote data.
 */
export function shownKey(key: unknown): string {
  if (typeof key === 'number') return String(key);
  return typeof key === 'string' && /^[A-Za-z_$][\w$]{0,31}$/.test(key) ? key : '…';
}

/** A step of a path into a value: `[0]` into an array, `.name` into an object, `.get(name)` into a Map. */
type Step = { index: number } | { property: unknown } | { mapKey: unknown } | '<key>' | '<entry>';

function rendered(step: Step): string {
  if (typeof step === 'string') return step;
  if ('index' in step) return `[${step.index}]`;
  if ('mapKey' in step) return `.get(${shownKey(step.mapKey)})`;
  const shown = shownKey(step.property);
  return shown === '…' ? '[…]' : `.${shown}`;
}

/**
 * Finds the first part of `value` that would not survive a round trip through the codec: msgpackr writes a
 * function as nothing and a class instance as a plain object, so they are refused here instead of being
 * silently changed; a cycle, and nesting deeper than {@link MAX_DEPTH}, are refused too. Returns `null` when
 * everything is storable. Linear in the value's size: an object reached again through a shared reference is
 * not walked again.
 */
export function findUnstorable(value: unknown, path: string): UnstorablePart | null {
  const found = unstorableIn(value, { ancestors: new Set(), checked: new Set() }, 0);
  return found && { path: path + found.steps.reverse().join(''), reason: found.reason };
}

type Unstorable = { steps: string[]; reason: string };

/** A refusal found inside a container, with the container's step to it added to the path. */
function via(found: Unstorable, step: Step): Unstorable {
  found.steps.push(rendered(step));
  return found;
}

interface UnstorableWalk {
  /** The containers on the way to the current one: reaching one again is a cycle. */
  ancestors: Set<object>;
  /** Containers already found storable, reached again through a shared reference. */
  checked: Set<object>;
}

/**
 * The walk behind `findUnstorable`. It runs on every load and put of an object field, so a path is built
 * only for a value it refuses (its steps collected innermost first on the way out).
 */
function unstorableIn(value: unknown, walk: UnstorableWalk, depth: number): Unstorable | null {
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
  const container = value as object;
  if (walk.checked.has(container)) return null;
  if (walk.ancestors.has(container)) return { steps: [], reason: 'a circular reference' };
  if (depth >= MAX_DEPTH) return { steps: [], reason: `nesting deeper than ${MAX_DEPTH} levels` };
  walk.ancestors.add(container);
  const found = containerUnstorable(container, walk, depth + 1);
  walk.ancestors.delete(container);
  if (found === null) walk.checked.add(container);
  return found;
}

function containerUnstorable(value: object, walk: UnstorableWalk, depth: number): Unstorable | null {
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = unstorableIn(value[index], walk, depth);
      if (found) return via(found, { index });
    }
    return null;
  }
  if (value instanceof Map) {
    for (const [key, entry] of value) {
      const inKey = unstorableIn(key, walk, depth);
      if (inKey) return via(inKey, '<key>');
      const inEntry = unstorableIn(entry, walk, depth);
      if (inEntry) return via(inEntry, { mapKey: key });
    }
    return null;
  }
  if (value instanceof Set) {
    for (const entry of value) {
      const found = unstorableIn(entry, walk, depth);
      if (found) return via(found, '<entry>');
    }
    return null;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    return { steps: [], reason: `an instance of ${prototype?.constructor?.name ?? 'a class'}` };
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return { steps: [], reason: 'a symbol-keyed property' };
  for (const key of Object.keys(value)) {
    const found = unstorableIn((value as Record<string, unknown>)[key], walk, depth);
    if (found) return via(found, { property: key });
  }
  return null;
}

/** The size and height of a container's tree expansion, as `treeShape` remembers them. */
interface Shape {
  parts: number;
  height: number;
}

/** Marks a container whose shape is being measured: reaching it again is a cycle. */
const MEASURING: Shape = { parts: Number.POSITIVE_INFINITY, height: Number.POSITIVE_INFINITY };

/**
 * Finds why a value is too costly to walk as a tree, as zod's parse and a JSON serializer do: more than
 * `maxParts` parts once each shared reference is counted at every place it appears (`[x, x]` nested 26 deep
 * is 344 bytes of msgpack and 67 million parts), nesting deeper than {@link MAX_DEPTH}, or a cycle. Returns
 * `null` when the value is fine. The measure itself is linear in the value's size: each container is measured
 * once and its shape remembered.
 */
export function findUnwalkable(value: unknown, path: string, maxParts: number): UnstorablePart | null {
  if (typeof value !== 'object' || value === null) return null;
  const shapes = new Map<object, Shape>();
  const found = shapeOf(value, shapes, 0, maxParts);
  if ('reason' in found) return { path: path + found.steps.reverse().join(''), reason: found.reason };
  if (found.parts > maxParts) {
    return { path, reason: `more than ${maxParts} parts, counting a shared object at every place it appears (it could not be stored or read in reasonable time)` };
  }
  return null;
}

function shapeOf(value: object, shapes: Map<object, Shape>, depth: number, maxParts: number): Shape | Unstorable {
  const known = shapes.get(value);
  if (known === MEASURING) return { steps: [], reason: 'a circular reference' };
  if (known !== undefined) {
    return depth + known.height > MAX_DEPTH ? { steps: [], reason: `nesting deeper than ${MAX_DEPTH} levels` } : known;
  }
  if (depth >= MAX_DEPTH) return { steps: [], reason: `nesting deeper than ${MAX_DEPTH} levels` };
  shapes.set(value, MEASURING);
  const shape: Shape = { parts: 1, height: 1 };
  const measure: ShapeWalk = { shape, shapes, depth, maxParts };
  let result: Unstorable | boolean = true;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length && result === true; index++) result = addPart(measure, value[index], { index });
  } else if (value instanceof Map) {
    for (const [key, entry] of value) {
      result = addPart(measure, key, '<key>');
      if (result === true) result = addPart(measure, entry, { mapKey: key });
      if (result !== true) break;
    }
  } else if (value instanceof Set) {
    for (const entry of value) if ((result = addPart(measure, entry, '<entry>')) !== true) break;
  } else {
    for (const key of Object.keys(value)) if ((result = addPart(measure, (value as Record<string, unknown>)[key], { property: key })) !== true) break;
  }
  if (typeof result === 'object') return result;
  shapes.set(value, shape);
  return shape;
}

/** One container's measure in progress, for `addPart`. */
interface ShapeWalk {
  shape: Shape;
  shapes: Map<object, Shape>;
  depth: number;
  maxParts: number;
}

/**
 * Adds a child's shape to its container's; false once the parts are over budget, so the walk stops early. A
 * function of its own rather than a closure per container: this walk runs on every read and write of an object.
 */
function addPart(walk: ShapeWalk, child: unknown, step: Step): Unstorable | boolean {
  const { shape } = walk;
  if (typeof child !== 'object' || child === null || child instanceof Date || ArrayBuffer.isView(child)) {
    shape.parts++;
    return shape.parts <= walk.maxParts;
  }
  const inner = shapeOf(child, walk.shapes, walk.depth + 1, walk.maxParts);
  if ('reason' in inner) return via(inner, step);
  shape.parts += inner.parts;
  shape.height = Math.max(shape.height, inner.height + 1);
  return shape.parts <= walk.maxParts;
}
