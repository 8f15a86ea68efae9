import { initTRPC } from '@trpc/server';
import { describe, expect, test } from 'vitest';
import * as z from 'zod';
import * as zodFloor from 'zod-floor';
import { FieldSchemas } from '../src/schema.js';
import { createCallerContext, createSessionManager, memoryStore, type SessionContext } from '../src/index.js';

// zod 4's floor (4.0.0, the `zod-floor` alias) beside the project's zod: start-up walks zod's own definitions to
// find transforms and defaults, and those are zod's internals.
const ZODS: [string, typeof z][] = [
  ["the project's zod", z],
  ['zod 4.0.0', zodFloor as unknown as typeof z],
];

describe.each(ZODS)('%s', (_name, zod) => {
  test('a field a new session would lack is refused at start-up, naming it', () => {
    expect(() => new FieldSchemas(zod.object({ ok: zod.string().optional(), cart: zod.array(zod.string()) }), 65_536)).toThrow(
      /session field "cart" must accept absence/,
    );
    expect(() => new FieldSchemas('nope' as never, 65_536)).toThrow(/must be a zod object schema/);
  });

  test('a bare .catch() field accepts absence: a new session gets its fallback', () => {
    const fields = new FieldSchemas(zod.object({ locale: zod.enum(['en', 'fr']).catch('en') }), 65_536);
    expect(fields.defaultOf('locale')).toBe('en');
  });

  test('a field with a transform is refused at start-up: its stored output would be transformed again on load', () => {
    const refused = {
      transform: zod.string().transform((value) => value.length).optional(),
      preprocess: zod.preprocess((value) => String(value), zod.string()).optional(),
      // z.codec came with zod 4.1.
      ...(typeof zod.codec === 'function' ? { codec: zod.codec(zod.string(), zod.number(), { decode: Number, encode: String }).optional() } : {}),
      nested: zod.array(zod.object({ sku: zod.string().transform((value) => value.toUpperCase()) })).default([]),
    };
    for (const [key, field] of Object.entries(refused)) {
      expect(() => new FieldSchemas(zod.object({ [key]: field }), 65_536)).toThrow(new RegExp(`session field "${key}" has a transform`));
    }
    interface Node {
      name: string;
      children: Node[];
    }
    const tree: z.ZodType<Node> = zod.lazy(() => zod.object({ name: zod.string().trim(), children: zod.array(tree) }));
    const accepted = zod.object({
      tree: tree.optional(),
      email: zod.email().toLowerCase().optional(),
      tags: zod.array(zod.string()).refine((tags) => new Set(tags).size === tags.length).default([]),
      locale: zod.enum(['en', 'fr']).catch('en'),
      plain: zod.string().pipe(zod.string().min(1)).optional(),
    });
    expect(new FieldSchemas(accepted, 65_536).keys).toEqual(['tree', 'email', 'tags', 'locale', 'plain']);
  });

  test('a schema that throws while validating (an async refinement) is a TypeError naming the field, not an invalid value', () => {
    const fields = new FieldSchemas(zod.object({ name: zod.string().refine(async (name) => name !== '').optional() }), 65_536);
    expect(() => fields.parse('name', 'ada')).toThrow(/validating session field "name" threw: .*async refinements are not supported/);
    expect(() => fields.parse('name', 'ada')).toThrow(TypeError);
  });

  // zod 4.0.0 hands out the same `.default([])` array at every parse; the session copies it.
  test("defaults are fresh copies, so one session cannot change another one's default", async () => {
    const schema = zod.object({ cart: zod.array(zod.string()).default([]), seen: zod.array(zod.string()).catch([]) });
    const sessions = createSessionManager({ schema, store: memoryStore() });
    const t = initTRPC.context<SessionContext<typeof schema>>().create();
    const router = t.router({
      add: t.procedure
        .concat(sessions.procedure)
        .input(zod.string())
        .mutation(async ({ input, ctx }) => {
          const session = await ctx.session.start();
          session.data.get('cart').push(input);
          session.data.get('seen').push(input);
          return session.data.all();
        }),
    });
    // No cookie kept: each call is a new session.
    const add = (item: string) => router.createCaller(createCallerContext(sessions, { cookie: undefined, setCookie: () => {} })).add(item);
    expect(await add('beans')).toEqual({ cart: ['beans'], seen: ['beans'] });
    expect(await add('tea')).toEqual({ cart: ['tea'], seen: ['tea'] });
    await sessions.close();
  });

  test('validation reports each issue by its code and path, never by a message that could quote the data', () => {
    const fields = new FieldSchemas(
      zod.object({ cart: zod.array(zod.object({ id: zod.string() })).default([]), profile: zod.strictObject({ name: zod.string() }).optional(), tags: zod.record(zod.string(), zod.number()).optional() }),
      65_536,
    );
    expect(fields.parse('cart', [{ id: 1 }])).toEqual({ ok: false, issues: '[0].id: invalid_type (expected string)' });
    expect(fields.parse('profile', { name: 'Ada', 'ada@example.com': 'secret' })).toEqual({ ok: false, issues: 'the value: unrecognized_keys' });
    // A record's keys are data: only identifier-like ones are shown.
    expect(fields.parse('tags', { 'ada@example.com': 'x', plain: 'y' })).toEqual({ ok: false, issues: '[…]: invalid_type (expected number); plain: invalid_type (expected number)' });
  });
});

test('manager options are checked at start-up', () => {
  const schema = z.object({ a: z.string().optional() });
  const store = memoryStore();
  expect(() => createSessionManager({ schema, store, maxSize: 0 })).toThrow(/maxSize/);
  expect(() => createSessionManager({ schema, store, absoluteLifetime: -1 })).toThrow(/absoluteLifetime/);
  expect(() => createSessionManager({ schema, store, touchAfter: -1 })).toThrow(/touchAfter/);
  expect(() => createSessionManager({ schema, store, persist: 'sometimes' as never })).toThrow(/persist/);
});

// zod 3.25 is in the peer range for its `zod/v4`, which is zod 4 and works fully (the `zod3` alias dev
// dependency is zod 3.25.76; test/package.test.ts type-checks and runs an app on it). Its own `zod` is zod 3, as
// is an older zod 3 that npm's `--legacy-peer-deps` installs: those schemas would run while the transform check
// saw nothing, so they are refused, naming the fix.
test('a zod 3 schema is refused at start-up, naming zod@4 and zod/v4; zod/v4 from zod 3.25 works', async () => {
  const { z: z3 } = await import('zod3');
  const fix = /`schema` is a zod 3 schema; trpc-session needs zod 4: install zod@4, or with zod 3\.25 import z from 'zod\/v4'/;
  expect(() => createSessionManager({ schema: z3.object({ n: z3.number().default(0) }) as never, store: memoryStore() })).toThrow(TypeError);
  expect(() => createSessionManager({ schema: z3.object({ n: z3.number().default(0) }) as never, store: memoryStore() })).toThrow(fix);
  expect(() => createSessionManager({ schema: z.object({}), flash: z3.object({ notice: z3.string() }) as never, store: memoryStore() })).toThrow(
    /`flash` is a zod 3 schema/,
  );

  const { z: v4 } = await import('zod3/v4');
  // Typed here as this project's zod 4 (an app on zod 3.25 has only zod/v4's types): comparing the two
  // packages' declarations exhausts tsc.
  type Schema = z.ZodObject<{ cart: z.ZodDefault<z.ZodArray<z.ZodString>>; visits: z.ZodDefault<z.ZodNumber> }>;
  const schema = v4.object({ cart: v4.array(v4.string()).default([]), visits: v4.number().int().default(0) }) as unknown as Schema;
  const sessions = createSessionManager({ schema, store: memoryStore() });
  const t = initTRPC.context<SessionContext<Schema>>().create();
  const router = t.router({
    add: t.procedure.concat(sessions.procedure).mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('cart', [...session.data.get('cart'), 'beans']);
      expect(() => session.data.put('visits', 1.5)).toThrow();
      return session.data.all();
    }),
  });
  let cookie: string | undefined;
  const add = () => router.createCaller(createCallerContext(sessions, { cookie, setCookie: (header) => (cookie = header.split(';')[0]!.split('=')[1]) })).add();
  expect(await add()).toEqual({ cart: ['beans'], visits: 0 });
  expect(await add()).toEqual({ cart: ['beans', 'beans'], visits: 0 });
  // The transform check sees zod/v4's transforms, which a zod 3 schema hid.
  expect(() => createSessionManager({ schema: v4.object({ n: v4.string().transform((s) => s.length).optional() }) as never, store: memoryStore() })).toThrow(
    /transform/,
  );
  await sessions.close();
});
