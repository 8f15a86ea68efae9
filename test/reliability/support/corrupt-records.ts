import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { encodeValue } from '../../../src/codec.js';

/** Session fields a corruption can hit, as the test schema (test/helpers/app.ts) names them. */
const FIELDS = ['cart', 'userId', 'counter', 'note', 'extra'] as const;
/** A field every field-level corruption leaves intact, to show the rest of the session survives. */
export const WITNESS = { field: 'visits', value: 7 } as const;

/** What is written at a session's key, and what a load must make of it. */
export type Corruption =
  /** A data field holds these bytes; the load keeps it if they decode to a schema-valid value, else drops it. */
  | { kind: 'random bytes' | 'wrong shape' | 'truncated' | 'unknown field'; field: string; bytes: Uint8Array }
  /** The hash lacks a readable creation time: the record is removed and a fresh session started. */
  | { kind: 'missing metadata'; createdAt: string | null; field: string; bytes: Uint8Array }
  /** The key is not one of the library's records (another type, a hash of other fields): left alone, no session. */
  | { kind: 'wrong type'; type: 'string' | 'list' | 'set' | 'zset'; members: Buffer[] }
  | { kind: 'foreign hash'; entries: [string, Buffer][] };

const field = fc.constantFrom(...FIELDS);
const bytes = fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array));
/** Values of every shape the codec can write, which mostly do not match a given field's schema. */
const storable = fc.oneof(
  fc.anything({ maxDepth: 3, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: false }),
  fc.constantFrom(-1, 1.5, 2 ** 53, '', [], {}, [{ productId: 'p', quantity: 0 }], [{ productId: 1, quantity: 1 }], { productId: 'p' }),
);
/** Valid values, whose encodings are cut short. */
const valid = fc.oneof(
  fc.array(fc.record({ productId: fc.string(), quantity: fc.integer({ min: 1, max: 1000 }) }), { minLength: 1, maxLength: 5 }).map((cart) => ['cart', cart] as const),
  fc.string({ minLength: 1 }).map((text) => ['note', text] as const),
  fc.integer().map((counter) => ['counter', counter] as const),
);

export const corruptions: fc.Arbitrary<Corruption> = fc.oneof(
  fc.tuple(field, bytes).map(([name, value]) => ({ kind: 'random bytes' as const, field: name, bytes: value })),
  fc.tuple(field, storable).map(([name, value]) => ({ kind: 'wrong shape' as const, field: name, bytes: Buffer.from(encodeValue(value)) })),
  fc.tuple(valid, fc.nat()).map(([[name, value], cut]) => {
    const encoded = Buffer.from(encodeValue(value));
    return { kind: 'truncated' as const, field: name, bytes: encoded.subarray(0, cut % encoded.length) };
  }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((name) => name !== WITNESS.field && !(FIELDS as readonly string[]).includes(name)), storable).map(
    ([name, value]) => ({ kind: 'unknown field' as const, field: name, bytes: Buffer.from(encodeValue(value)) }),
  ),
  fc.tuple(fc.constantFrom(null, '', 'abc', 'yesterday', '12abc', '--1', '1.2.3'), field, storable).map(([createdAt, name, value]) => ({
    kind: 'missing metadata' as const,
    createdAt,
    field: name,
    bytes: Buffer.from(encodeValue(value)),
  })),
  fc.tuple(fc.constantFrom('string' as const, 'list' as const, 'set' as const, 'zset' as const), fc.array(bytes, { minLength: 1, maxLength: 4 })).map(
    ([type, members]) => ({ kind: 'wrong type' as const, type, members }),
  ),
  // Another app's hash under a shared prefix: fields of its own (some named like ours), or data fields without metadata.
  fc
    .tuple(
      fc.uniqueArray(fc.oneof(fc.constantFrom('email', 'name', 'm:x', 'meta', 'd', 'm:c:', 'M:C'), fc.string({ minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 4 }),
      fc.array(bytes, { minLength: 4, maxLength: 4 }),
      fc.boolean(),
    )
    .map(([names, values, withOurs]) => {
      const entries = names.map((name, index) => [name, values[index]!] as [string, Buffer]);
      // A foreign hash may also hold fields named as ours; one field that is not makes it foreign.
      if (withOurs) entries.push(['m:c', Buffer.from(String(Date.now()))], [`d:${WITNESS.field}`, Buffer.from(encodeValue(WITNESS.value))]);
      return { kind: 'foreign hash' as const, entries };
    })
    .filter(({ entries }) => entries.some(([name]) => !name.startsWith('d:') && !['m:c', 'm:u', 'm:e', 'm:v', 'm:user'].includes(name))),
  fc.array(fc.tuple(field, bytes), { minLength: 1, maxLength: 3 }).map((pairs) => ({
    kind: 'foreign hash' as const,
    entries: pairs.map(([name, value]) => [`d:${name}`, value] as [string, Buffer]),
  })),
);

/** Whether the load must give no session for the key (rather than drop at most one field). */
export const breaksRecord = (corruption: Corruption) => corruption.kind === 'missing metadata' || isForeign(corruption);

/** Whether the key is not recognisably one of the library's records, so that it must be left exactly as it was. */
export const isForeign = (corruption: Corruption) => corruption.kind === 'wrong type' || corruption.kind === 'foreign hash';

/** Queues the commands that write `corruption` at `key` (a day's TTL, metadata as the store writes it). */
export function writeCorruption(pipeline: ReturnType<Redis['pipeline']>, key: string, corruption: Corruption, now: number): void {
  pipeline.del(key);
  switch (corruption.kind) {
    case 'wrong type': {
      const members = corruption.members;
      if (corruption.type === 'string') pipeline.set(key, members[0]!);
      else if (corruption.type === 'list') pipeline.rpush(key, ...members);
      else if (corruption.type === 'set') pipeline.sadd(key, ...members);
      else pipeline.zadd(key, ...members.flatMap((member, index) => [index, member]));
      break;
    }
    case 'foreign hash':
      pipeline.hset(key, ...corruption.entries.flat());
      break;
    case 'missing metadata': {
      const metadata = corruption.createdAt === null ? [] : ['m:c', corruption.createdAt];
      pipeline.hset(key, `d:${corruption.field}`, Buffer.from(corruption.bytes), 'm:u', now, 'm:v', 1, ...metadata);
      break;
    }
    default:
      pipeline.hset(key, `d:${corruption.field}`, Buffer.from(corruption.bytes), `d:${WITNESS.field}`, Buffer.from(encodeValue(WITNESS.value)), 'm:c', now, 'm:u', now, 'm:v', 1);
  }
  pipeline.pexpire(key, 86_400_000);
}
