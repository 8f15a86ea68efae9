import fc from 'fast-check';
import { expect, test } from 'vitest';
import { decodeValue, encodeValue, findUnstorable, findUnusable, findUnusableDecoded, findUnwalkable, storableCopy, storedCopy } from '../src/codec.js';

test('values round-trip as themselves, plain objects and Maps kept apart', () => {
  const value = {
    date: new Date(1_700_000_000_123),
    map: new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
    set: new Set([1, 'x']),
    small: -5n,
    big: 2n ** 70n,
    bytes: new Uint8Array([0, 255]),
    object: { nested: { list: [1, null, 'x', true, 1.5] } },
  };
  expect(decodeValue(encodeValue(value))).toEqual(value);
  expect((decodeValue(encodeValue(value)) as typeof value).map).toBeInstanceOf(Map);
});

test('encoding is deterministic, so a value changed in place can be noticed by its bytes', () => {
  const make = () => ({ cart: [{ id: 'p1', quantity: 2 }], at: new Date(5) });
  expect(Buffer.compare(encodeValue(make()), encodeValue(make()))).toBe(0);
});

test('truncated bytes do not decode', () => {
  const bytes = encodeValue({ a: 'long enough string' });
  expect(() => decodeValue(bytes.subarray(0, bytes.length - 4))).toThrow();
});

test('finds what msgpackr would not read back as itself', () => {
  class Point {}
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  expect(findUnstorable({ a: [1, { f: () => 1 }] }, 'x')).toEqual({ path: 'x.a[1].f', reason: 'a function' });
  expect(findUnstorable(new Map([['k', Symbol('s')]]), 'x')).toEqual({ path: 'x.get(k)', reason: 'a symbol' });
  expect(findUnstorable({ p: new Point() }, 'x')).toEqual({ path: 'x.p', reason: 'an instance of Point' });
  expect(findUnstorable(cycle, 'x')).toEqual({ path: 'x.self', reason: 'a circular reference' });
  expect(findUnstorable({ [Symbol('k')]: 1 }, 'x')).toEqual({ path: 'x', reason: 'a symbol-keyed property' });
  const shared = { n: 1 };
  expect(findUnstorable({ a: shared, b: shared, set: new Set([new Date()]), o: Object.create(null) }, 'x')).toBeNull();
});

/** Every object reachable from `value`, containers' contents included. */
function objectsIn(value: unknown, found = new Set<object>()): Set<object> {
  if (typeof value !== 'object' || value === null || found.has(value)) return found;
  found.add(value);
  const children = value instanceof Map ? [...value].flat() : value instanceof Set ? [...value] : Object.values(value);
  for (const child of children) objectsIn(child, found);
  return found;
}

/** Storable values of every kind, plain ones most often, with references shared inside them. */
const storableValues = fc.oneof(
  fc.jsonValue(),
  fc.anything({ maxDepth: 3, withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: false }),
  fc.tuple(fc.object(), fc.constantFrom(-0, 0, '__proto__')).map(([shared, extra]) =>
    extra === '__proto__' ? JSON.parse(`{"__proto__": ${JSON.stringify(shared)}, "n": 1}`) : { a: shared, b: [shared, extra] },
  ),
);

test('storedCopy gives what a round trip through the codec gives, and shares nothing with the original', () => {
  fc.assert(
    fc.property(storableValues, (value) => {
      fc.pre(findUnstorable(value, 'v') === null);
      const copy = storedCopy(value);
      const roundTrip = decodeValue(encodeValue(value));
      expect(copy).toStrictEqual(roundTrip);
      // The same bytes: references shared inside the value are shared the same way in the copy.
      expect(Buffer.compare(encodeValue(copy), encodeValue(roundTrip))).toBe(0);
      const original = objectsIn(value);
      for (const object of objectsIn(copy)) expect(original.has(object)).toBe(false);
    }),
    { numRuns: 2000 },
  );
});

/** Values of every kind, storable or not: functions, symbols, class instances, cycles, deep chains. */
const anyValues = fc.oneof(
  storableValues,
  fc.anything({ maxDepth: 3, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withBoxedValues: true }),
  fc.tuple(fc.object(), fc.constantFrom(() => 1, Symbol('s'), new (class Point {})(), new Float64Array(2), 'cycle', 'deep')).map(([value, odd]) => {
    if (odd === 'cycle') return Object.assign(value, { self: value });
    if (odd === 'deep') {
      let chain: unknown = value;
      for (let level = 0; level < 70; level++) chain = [chain];
      return chain;
    }
    return { ...value, odd: [odd] };
  }),
);

test('storableCopy refuses what findUnstorable refuses, by the same path and reason, and copies as storedCopy does', () => {
  fc.assert(
    fc.property(anyValues, (value) => {
      const unstorable = findUnstorable(value, 'v');
      const result = storableCopy(value, 'v');
      expect(result).toEqual(unstorable === null ? { copy: storedCopy(value) } : { unstorable });
    }),
    { numRuns: 2000 },
  );
});

test('findUnusable finds what findUnstorable or findUnwalkable finds, in one walk', () => {
  fc.assert(
    fc.property(anyValues, fc.constantFrom(3, 20, 65_536), (value, maxParts) => {
      const unstorable = findUnstorable(value, 'v');
      const unwalkable = findUnwalkable(value, 'v', maxParts);
      const found = findUnusable(value, 'v', maxParts);
      if (unstorable === null && unwalkable === null) {
        expect(found).toBeNull();
        return;
      }
      // Either one, the first its walk reached; told apart by `unstorable`.
      expect([unstorable && { ...unstorable, unstorable: true }, unwalkable && { ...unwalkable, unstorable: !unwalkable.reason.startsWith('more than') }]).toContainEqual(found);
    }),
    { numRuns: 2000 },
  );
});

test('findUnusableDecoded finds in a value msgpackr decoded what findUnusable finds', () => {
  fc.assert(
    fc.property(storableValues, fc.constantFrom(3, 20, 65_536), (value, maxParts) => {
      fc.pre(findUnstorable(value, 'v') === null);
      const decoded = decodeValue(encodeValue(value));
      expect(findUnusableDecoded(decoded, 'v', maxParts)).toEqual(findUnusable(decoded, 'v', maxParts));
    }),
    { numRuns: 2000 },
  );
});
