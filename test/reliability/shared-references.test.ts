import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { MAX_DEPTH, encodeValue } from '../../src/codec.js';
import {
  createSessionManager,
  redisStore,
  SessionFieldDroppedError,
  SessionSerializationError,
  type SessionError,
  type SessionStore,
} from '../../src/index.js';
import { router, testManager } from '../helpers/app.js';
import { handleFor, requestFor } from '../helpers/request.js';
import { serveStandalone, type Served } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { unknownId } from './support/cookie-cases.js';
import { logFigures, scaled } from './support/figures.js';
import { get } from './support/raw-http.js';
import { deepValue, mildlySharedValue, sharedReferenceValue } from './support/shared-values.js';

const MAX_SIZE = 65_536;

/** Every node zod's parse reaches, counted by a refinement on a recursive schema. */
let zodVisits = 0;
const counted = <T extends z.ZodType>(schema: T) => schema.refine(() => ++zodVisits > 0);
type Tree = number | string | boolean | null | Tree[] | { [key: string]: Tree };
const tree: z.ZodType<Tree> = z.lazy(() =>
  counted(z.union([z.number(), z.string(), z.boolean(), z.null(), z.array(tree), z.record(z.string(), tree)])),
) as z.ZodType<Tree>;
const schema = z.object({
  extra: z.unknown().optional(),
  dict: z.record(z.string(), z.unknown()).optional(),
  tree: tree.optional(),
});

let redis: RedisServer;
let store: SessionStore;
const errors: SessionError[] = [];
let sessions: ReturnType<typeof createSessionManager<typeof schema>>;
beforeAll(async () => {
  redis = await startRedis();
  store = redisStore({ redis: redis.client() });
  sessions = createSessionManager({ schema, store, maxSize: MAX_SIZE, onError: (error) => errors.push(error) });
});
afterAll(() => redis.stop(true));

/** The model: a value's parts walked as a tree (shared objects counted every time), and its depth; memoized. */
function treeShape(value: unknown, memo = new Map<object, { parts: number; depth: number }>(), level = 0): { parts: number; depth: number } {
  if (typeof value !== 'object' || value === null || value instanceof Date || ArrayBuffer.isView(value)) return { parts: 1, depth: 0 };
  // Deeper than the limit is all the model needs to know (and recursing on would overflow its own stack).
  if (level > MAX_DEPTH) return { parts: 1, depth: Number.POSITIVE_INFINITY };
  const known = memo.get(value);
  if (known) return known;
  const children: unknown[] =
    value instanceof Map ? [...value].flat() : value instanceof Set ? [...value] : Array.isArray(value) ? value : Object.values(value);
  const shape = { parts: 1, depth: 1 };
  for (const child of children) {
    const inner = treeShape(child, memo, level + 1);
    shape.parts = Math.min(shape.parts + inner.parts, Number.MAX_SAFE_INTEGER);
    shape.depth = Math.max(shape.depth, inner.depth + 1);
  }
  memo.set(value, shape);
  return shape;
}

/** A put of `value` into `field`, persisted to Redis; a second request reads it back from Redis. */
/** The longest synchronous stretch of library work seen (a put, or a read of a stored field), in ms. */
let longestCall = 0;
function timed<T>(work: () => T): T {
  const start = performance.now();
  try {
    return work();
  } finally {
    longestCall = Math.max(longestCall, performance.now() - start);
  }
}

async function putAndReadBack(field: 'extra' | 'dict' | 'tree', value: unknown) {
  const request = requestFor();
  const session = await handleFor(sessions, request.transport).start();
  let refused: unknown;
  try {
    timed(() => session.data.put(field, value as never));
  } catch (error) {
    refused = error;
  }
  await request.end();
  const reading = requestFor(session.id);
  const loaded = await handleFor(sessions, reading.transport).load();
  if (loaded !== null) timed(() => loaded.data.get(field));
  return { refused, loaded, written: session.data.get(field) };
}

test(`shared references and deep nesting: every walk over a value is linear, and a value too costly to walk as a tree is refused with a clear error`, async () => {
  longestCall = 0;
  const figures = { cases: 0, stored: 0, 'refused (too many parts)': 0, 'refused (too deep)': 0, 'most zod visits in a put and a read': 0 };
  // Sampled rather than fc.assert: a counterexample of this kind cannot be printed (nor shrunk) in reasonable time.
  const cases = fc.sample(fc.tuple(fc.oneof(sharedReferenceValue, deepValue), fc.constantFrom('extra' as const, 'dict' as const, 'tree' as const)), {
    numRuns: scaled(300, 3_000),
    seed: 33_033,
  });
  for (const [{ value }, field] of cases) {
    {
      figures.cases++;
      const input = field === 'dict' ? { entry: value } : value;
      const shape = treeShape(input);
      zodVisits = 0;
      const { refused, loaded, written } = await putAndReadBack(field, input);
      figures['most zod visits in a put and a read'] = Math.max(figures['most zod visits in a put and a read'], zodVisits);
      // zod never walks more parts than the session could hold, in the put or in the read.
      expect(zodVisits).toBeLessThanOrEqual(2 * MAX_SIZE);
      if (shape.depth > MAX_DEPTH || shape.parts > MAX_SIZE) {
        expect(refused).toBeInstanceOf(SessionSerializationError);
        // Whichever limit the walk reaches first when both are passed.
        const reasons = [...(shape.depth > MAX_DEPTH ? ['nesting deeper than 64 levels'] : []), ...(shape.parts > MAX_SIZE ? ['more than 65536 parts'] : [])];
        expect((refused as Error).message).toMatch(new RegExp(reasons.join('|')));
        expect(loaded?.data.has(field) ?? false).toBe(false);
        figures[shape.depth > MAX_DEPTH ? 'refused (too deep)' : 'refused (too many parts)']++;
        continue;
      }
      if (refused !== undefined) {
        // A tree field refuses Maps and Sets by its schema, as any put would; nothing else may fail.
        expect(field, String(refused)).toBe('tree');
        continue;
      }
      expect(loaded!.data.get(field)).toEqual(written);
      figures.stored++;
    }
  }
  // zod's own walk, counted, on chains of pairs: 2^(depth+1) - 1 parts, refused from 65,536 on.
  for (let depth = 1; depth <= 24; depth++) {
    let value: Tree = 1;
    for (let level = 0; level < depth; level++) value = [value, value];
    zodVisits = 0;
    const { refused, loaded } = await putAndReadBack('tree', value);
    expect(zodVisits).toBeLessThanOrEqual(2 * MAX_SIZE);
    const parts = 2 ** (depth + 1) - 1;
    if (parts > MAX_SIZE) expect(refused).toBeInstanceOf(SessionSerializationError);
    else {
      // At most once over the tree by the put, and once by the read from Redis.
      expect(zodVisits).toBeLessThanOrEqual(2 * parts);
      expect([refused, loaded!.data.get('tree')]).toEqual([undefined, value]);
    }
    figures['most zod visits in a put and a read'] = Math.max(figures['most zod visits in a put and a read'], zodVisits);
  }
  expect(errors).toEqual([]);
  expect(figures['refused (too many parts)']).toBeGreaterThan(0);
  expect(figures['refused (too deep)']).toBeGreaterThan(0);
  // Not asserted (a loaded machine may stall anything): the figure for the report.
  logFigures('shared references and depth', { ...figures, 'longest put or read (ms)': longestCall.toFixed(1), failures: 0 });
}, 300_000);

test('ordinary values that share an object or two are stored and read back as they were', async () => {
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(mildlySharedValue, async (value) => {
      const { refused, loaded, written } = await putAndReadBack('extra', value);
      if (refused instanceof SessionSerializationError && !/parts|deeper/.test(refused.message)) return; // a NaN key, a class: the codec's usual refusals
      expect(refused).toBeUndefined();
      expect(loaded!.data.get('extra')).toEqual(written);
      cases++;
    }),
    { numRuns: scaled(300, 3_000), seed: 44_044 },
  );
  logFigures('mildly shared values', { 'stored and read back': cases, failures: 0 });
}, 300_000);

test('a stored value of shared references (a few hundred bytes that expand to millions of parts or more) is dropped and reported when read, over real HTTP', async () => {
  const { sessions: http, errors: reported } = testManager(redisStore({ redis: redis.client() }));
  const served: Served = await serveStandalone(router, http.createContext);
  const inspect = redis.client();
  try {
    for (const [depth, seed] of [[26, 1], [40, 2], [80, 3]] as const) {
      let value: unknown = 'x';
      for (let level = 0; level < depth; level++) value = [value, value];
      const bytes = Buffer.from(encodeValue(value));
      expect(bytes.length).toBeLessThan(2_000);
      const [id] = fc.sample(unknownId, { numRuns: 1, seed });
      const now = Date.now();
      await inspect.hset(`session:${id}`, 'd:extra', bytes, 'd:visits', Buffer.from(encodeValue(7)), 'm:c', now, 'm:u', now, 'm:e', now + 60_000, 'm:v', 1);
      await inspect.pexpire(`session:${id}`, 60_000);
      const before = reported.length;
      const response = await get(`${served.url}/peek`, { cookie: `sid=${id}` });
      expect(response.status).toBe(200);
      const data = (JSON.parse(response.body) as { result: { data: { id: string; data: { visits: number; extra?: unknown } } } }).result.data;
      expect(data.id).toBe(id);
      expect(data.data.visits).toBe(7);
      expect(data.data.extra).toBeUndefined();
      expect(reported.slice(before).map((error) => error.constructor)).toEqual([SessionFieldDroppedError]);
    }
    logFigures('stored shared references', { 'records read over HTTP': 3, failures: 0 });
  } finally {
    inspect.disconnect();
    await served.close();
  }
});
