import fc from 'fast-check';

/** How one level of a shared-reference chain holds the level below it, twice or more. */
type Sharing = 'pair' | 'object' | 'map' | 'set' | 'triple';

function share(inner: unknown, how: Sharing): unknown {
  switch (how) {
    case 'pair':
      return [inner, inner];
    case 'triple':
      return [inner, { again: inner }, inner];
    case 'object':
      return { left: inner, right: inner };
    case 'map':
      return new Map<string, unknown>([
        ['a', inner],
        ['b', inner],
      ]);
    default:
      return new Set([inner, [inner]]);
  }
}

/** A leaf a chain ends in. */
const leaf = fc.oneof(fc.constantFrom(0, 'x', null, true), fc.string({ maxLength: 8 }), fc.record({ n: fc.integer() }));

/**
 * Values whose references are shared: each level holds the one below it two or three times, so a value of
 * `depth` levels has a few objects but 2^depth parts or more when walked as a tree (`[x, x]` nested 26 deep is
 * 67 million). Depths run from harmless to far past what any tree walk could finish.
 */
export const sharedReferenceValue: fc.Arbitrary<{ value: unknown; depth: number }> = fc
  .tuple(leaf, fc.integer({ min: 1, max: 90 }), fc.array(fc.constantFrom<Sharing>('pair', 'object', 'map', 'set', 'triple'), { minLength: 90, maxLength: 90 }))
  .map(([base, depth, levels]) => ({ value: levels.slice(0, depth).reduce<unknown>(share, base), depth }));

/** A value nested `depth` levels deep without sharing: a deep chain of arrays, objects or maps. */
export const deepValue: fc.Arbitrary<{ value: unknown; depth: number }> = fc
  .tuple(fc.integer({ min: 1, max: 5_000 }), fc.constantFrom('array', 'object', 'map'))
  .map(([depth, kind]) => {
    let value: unknown = 1;
    for (let level = 0; level < depth; level++) value = kind === 'array' ? [value] : kind === 'object' ? { next: value } : new Map([['next', value]]);
    return { value, depth };
  });

/** Ordinary values, with a few shared references of the kind real data has (one object in two places). */
export const mildlySharedValue: fc.Arbitrary<unknown> = fc
  .tuple(fc.anything({ maxDepth: 3, withMap: true, withSet: true, withDate: true, withNullPrototype: false, withObjectString: false, withBoxedValues: false, withTypedArray: false, withSparseArray: false }), fc.nat(3))
  .map(([value, copies]) => (copies === 0 ? value : { items: Array.from({ length: copies + 1 }, () => value), value }));
