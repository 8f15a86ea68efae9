import { expect, test } from 'vitest';
import { decodeValue, encodeValue, findUnstorable } from '../src/codec.js';

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
