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

/** What `copyPlain` returns for a value it leaves to the codec, or to `findUnstorable`. */
const NOT_PLAIN = Symbol('not plain');

/**
 * A deep copy of a storable value, the same as storing it and reading it back would give
 * (`decodeValue(encodeValue(value))`), including references shared within it. Plain objects, arrays and
 * primitives, which most session data is, are copied directly, at a small fraction of the round trip's cost;
 * a value holding anything else (a `Date`, `Map`, `Set`, bytes, a `__proto__` key) takes the round trip.
 */
export function storedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return copyPrimitive(value);
  const copy = copyPlain(value, new Map(), 0);
  return copy === NOT_PLAIN ? decodeValue(encodeValue(value)) : copy;
}

/**
 * `storedCopy` of a value checked storable on the way, as `findUnstorable` checks it: one walk for the value
 * a put or a validation hands on, which is both checked and copied. Returns what `findUnstorable` finds when
 * the value cannot be stored.
 */
export function storableCopy(value: unknown, path: string): { copy: unknown } | { unstorable: UnstorablePart } {
  if (typeof value === 'object' && value !== null) {
    const copy = copyPlain(value, new Map(), 0);
    if (copy !== NOT_PLAIN) return { copy };
  } else if (typeof value !== 'function' && typeof value !== 'symbol') {
    return { copy: copyPrimitive(value) };
  }
  // Not plain data, or not storable: the walk that names the part, then the codec's round trip.
  const unstorable = findUnstorable(value, path);
  return unstorable === null ? { copy: decodeValue(encodeValue(value)) } : { unstorable };
}

/** msgpack has no negative zero: it is stored, and read back, as 0. */
const copyPrimitive = (value: unknown) => (value === 0 ? 0 : value);

/**
 * The copy of a tree of plain objects, arrays and storable primitives, or NOT_PLAIN (for anything else, and for
 * a function, a symbol, a cycle or nesting past {@link MAX_DEPTH}, which `findUnstorable` then names).
 * `copies` maps each container copied whole to its copy; a container is entered there only once copied, so a
 * cycle recurses until the depth cap rather than being copied.
 */
function copyPlain(value: object, copies: Map<object, unknown>, depth: number): unknown {
  const known = copies.get(value);
  if (known !== undefined) return known;
  if (depth >= MAX_DEPTH) return NOT_PLAIN;
  let copy: unknown[] | Record<string, unknown>;
  if (Array.isArray(value)) {
    const items: unknown[] = new Array(value.length);
    for (let index = 0; index < value.length; index++) {
      const item = copiedPart(value[index], copies, depth);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      items[index] = item;
    }
    copy = items;
  } else {
    const prototype = Object.getPrototypeOf(value);
    // msgpackr renames a "__proto__" key rather than set a prototype: left to it, to be read back the same.
    if ((prototype !== Object.prototype && prototype !== null) || Object.hasOwn(value, '__proto__')) return NOT_PLAIN;
    if (Object.getOwnPropertySymbols(value).length > 0) return NOT_PLAIN;
    const entries: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const entry = copiedPart((value as Record<string, unknown>)[key], copies, depth);
      if (entry === NOT_PLAIN) return NOT_PLAIN;
      entries[key] = entry;
    }
    copy = entries;
  }
  copies.set(value, copy);
  return copy;
}

function copiedPart(part: unknown, copies: Map<object, unknown>, depth: number): unknown {
  switch (typeof part) {
    case 'object':
      return part === null ? null : copyPlain(part, copies, depth + 1);
    case 'function':
    case 'symbol':
      return NOT_PLAIN;
    default:
      return copyPrimitive(part);
  }
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
  return measured(value, path, maxParts, false);
}

/**
 * `findUnwalkable` and `findUnstorable` in one walk, for a value that needs both (one just decoded, one changed
 * in place): the first part found that is too costly to walk or that could not be stored. `unstorable` tells
 * which: true for what `findUnstorable` refuses (a cycle and nesting too deep among them).
 */
export function findUnusable(value: unknown, path: string, maxParts: number): (UnstorablePart & { unstorable: boolean }) | null {
  return unusable(measured(value, path, maxParts, true, false));
}

/**
 * `findUnusable` of a value msgpackr has just decoded, which holds no symbol-keyed property (msgpack has no
 * symbols): the walk does not look for them, an object at a time.
 */
export function findUnusableDecoded(value: unknown, path: string, maxParts: number): (UnstorablePart & { unstorable: boolean }) | null {
  return unusable(measured(value, path, maxParts, true, true));
}

const unusable = (found: UnstorablePart | null) => found && { ...found, unstorable: !found.reason.startsWith('more than') };

function measured(value: unknown, path: string, maxParts: number, storable: boolean, decoded = false): UnstorablePart | null {
  if ((typeof value !== 'object' || value === null) && !storable) return null;
  if (withinLimits({ parts: 0, maxParts, storable, symbolKeys: storable && !decoded }, value, -1)) return null;
  // The value as the one part of a container above it: a Date or bytes at the top are parts like any other.
  const root: Shape = { parts: 0, height: 0 };
  const found = addPart({ shapes: new Map(), maxParts, storable }, root, value, -1);
  if (typeof found === 'object') return { path: path + found.steps.reverse().join(''), reason: found.reason };
  if (root.parts > maxParts) {
    return { path, reason: `more than ${maxParts} parts, counting a shared object at every place it appears (it could not be stored or read in reasonable time)` };
  }
  return null;
}

/** The state of `withinLimits`: the parts counted so far. */
interface TreeCount {
  parts: number;
  readonly maxParts: number;
  readonly storable: boolean;
  /** Look for symbol-keyed properties, which could not be stored. */
  readonly symbolKeys: boolean;
}

/**
 * Whether a value is fine as `measured` judges it, for a value that is, as nearly every session value is: the
 * same checks, each part counted at every place it appears, without the map of shapes that makes the exact
 * measure linear. So it stops at the first limit: more than `maxParts` parts (the work it did is bounded by
 * them), a container deeper than {@link MAX_DEPTH} (where a cycle ends), or anything that could not be stored.
 * False then, and `measured` walks the value again to say why. `child` is a part of a container at `depth`.
 */
function withinLimits(count: TreeCount, child: unknown, depth: number): boolean {
  if (typeof child !== 'object' || child === null) {
    if (count.storable && (typeof child === 'function' || typeof child === 'symbol')) return false;
    return ++count.parts <= count.maxParts;
  }
  if (child instanceof Date || child instanceof Uint8Array) return ++count.parts <= count.maxParts;
  if (ArrayBuffer.isView(child)) return !count.storable && ++count.parts <= count.maxParts;
  if (++depth >= MAX_DEPTH || ++count.parts > count.maxParts) return false;
  if (Array.isArray(child)) {
    for (let index = 0; index < child.length; index++) if (!withinLimits(count, child[index], depth)) return false;
    return true;
  }
  if (child instanceof Map) {
    for (const [key, entry] of child) if (!withinLimits(count, key, depth) || !withinLimits(count, entry, depth)) return false;
    return true;
  }
  if (child instanceof Set) {
    for (const entry of child) if (!withinLimits(count, entry, depth)) return false;
    return true;
  }
  if (count.storable) {
    const prototype = Object.getPrototypeOf(child);
    if (prototype !== Object.prototype && prototype !== null) return false;
    if (count.symbolKeys && Object.getOwnPropertySymbols(child).length > 0) return false;
  }
  // The values at once, not a lookup by key: a lookup site that sees objects of many shapes is slow.
  for (const part of Object.values(child)) if (!withinLimits(count, part, depth)) return false;
  return true;
}

/** One measure's state, shared by every container it walks. */
interface ShapeWalk {
  shapes: Map<object, Shape>;
  maxParts: number;
  /** Refuse, as `findUnstorable` does, what msgpackr would not read back as itself. */
  storable: boolean;
}

function shapeOf(value: object, walk: ShapeWalk, depth: number): Shape | Unstorable {
  const { shapes } = walk;
  const known = shapes.get(value);
  if (known === MEASURING) return { steps: [], reason: 'a circular reference' };
  if (known !== undefined) {
    return depth + known.height > MAX_DEPTH ? { steps: [], reason: `nesting deeper than ${MAX_DEPTH} levels` } : known;
  }
  if (depth >= MAX_DEPTH) return { steps: [], reason: `nesting deeper than ${MAX_DEPTH} levels` };
  shapes.set(value, MEASURING);
  const shape: Shape = { parts: 1, height: 1 };
  let result: Unstorable | boolean = true;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if ((result = addPart(walk, shape, value[index], depth)) === true) continue;
      if (result !== false) via(result, { index });
      break;
    }
  } else if (value instanceof Map) {
    for (const [key, entry] of value) {
      result = addPart(walk, shape, key, depth);
      if (typeof result === 'object') via(result, '<key>');
      else if (result === true && typeof (result = addPart(walk, shape, entry, depth)) === 'object') via(result, { mapKey: key });
      if (result !== true) break;
    }
  } else if (value instanceof Set) {
    for (const entry of value) {
      if ((result = addPart(walk, shape, entry, depth)) === true) continue;
      if (result !== false) via(result, '<entry>');
      break;
    }
  } else {
    if (walk.storable) {
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return { steps: [], reason: `an instance of ${prototype?.constructor?.name ?? 'a class'}` };
      if (Object.getOwnPropertySymbols(value).length > 0) return { steps: [], reason: 'a symbol-keyed property' };
    }
    for (const key of Object.keys(value)) {
      if ((result = addPart(walk, shape, (value as Record<string, unknown>)[key], depth)) === true) continue;
      if (result !== false) via(result, { property: key });
      break;
    }
  }
  if (typeof result === 'object') return result;
  shapes.set(value, shape);
  return shape;
}

/**
 * Adds a child's shape to its container's `shape`; false once the parts are over budget, so the walk stops
 * early. The caller adds its step to a refusal's path: no step is built for a part that passes.
 */
function addPart(walk: ShapeWalk, shape: Shape, child: unknown, depth: number): Unstorable | boolean {
  if (typeof child !== 'object' || child === null || child instanceof Date || child instanceof Uint8Array) {
    if (walk.storable && (typeof child === 'function' || typeof child === 'symbol')) return { steps: [], reason: `a ${typeof child}` };
    shape.parts++;
    return shape.parts <= walk.maxParts;
  }
  if (ArrayBuffer.isView(child)) {
    if (walk.storable) return { steps: [], reason: `an instance of ${Object.getPrototypeOf(child)?.constructor?.name ?? 'a class'}` };
    shape.parts++;
    return shape.parts <= walk.maxParts;
  }
  const inner = shapeOf(child, walk, depth + 1);
  if ('reason' in inner) return inner;
  shape.parts += inner.parts;
  shape.height = Math.max(shape.height, inner.height + 1);
  return shape.parts <= walk.maxParts;
}
