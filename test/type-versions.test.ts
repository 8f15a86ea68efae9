import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';

// `npm test`'s tsc checks the type tests on the project's TypeScript (5.9) and @trpc/server (the latest, 11.25).
// Here they run on the lowest supported TypeScript and on TypeScript 7, and on @trpc/server's and zod 4's
// floors: the aliased dev dependencies `typescript-lowest`, `typescript7`, `trpc-server-floor` and `zod-floor`.
const root = resolve(import.meta.dirname, '..');
const modules = join(root, 'node_modules');
const dir = mkdtempSync(join(tmpdir(), 'trpc-session-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TYPE_TESTS = ['test/types.test.ts', 'test/next-types.test.ts'].map((file) => join(root, file));
const floor = join(modules, 'trpc-server-floor', 'dist');
const FLOOR_PATHS = {
  '@trpc/server': [join(floor, 'index.d.ts')],
  '@trpc/server/*': [join(floor, '*.d.ts'), join(floor, '*', 'index.d.ts')],
};

const zodFloor = join(modules, 'zod-floor');
const ZOD_FLOOR_PATHS = { zod: [join(zodFloor, 'index.d.ts')], 'zod/*': [join(zodFloor, '*', 'index.d.ts')] };

/** Type-checks the type tests with the project's options, `paths` added, and resolves to what tsc printed. */
function typeCheck(compiler: string, name: string, paths: Record<string, string[]> = {}, files = TYPE_TESTS, args: string[] = []): Promise<string> {
  const config = join(dir, `tsconfig.${name}.json`);
  const compilerOptions = { typeRoots: [join(modules, '@types')], ...(Object.keys(paths).length > 0 ? { paths: { ...projectPaths, ...paths } } : {}) };
  writeFileSync(config, JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions, include: [], files }));
  return new Promise((done) => execFile(join(modules, compiler, 'bin', 'tsc'), ['-p', config, ...args], { encoding: 'utf8' }, (_error, stdout, stderr) => done(stdout + stderr)));
}
const projectPaths = Object.fromEntries(
  Object.entries({ 'trpc-session': 'index.ts', 'trpc-session/fastify': 'adapters/fastify.ts', 'trpc-session/fetch': 'adapters/fetch.ts', 'trpc-session/ws': 'adapters/ws.ts', 'trpc-session/next': 'adapters/next.ts', 'trpc-session/testing': 'testing.ts' }).map(([name, file]) => [name, [join(root, 'src', file)]]),
);

test.each([
  ['the lowest supported TypeScript (5.7.3)', 'typescript-lowest'],
  ['TypeScript 7', 'typescript7'],
])('the type tests pass on %s', async (_name, compiler) => {
  expect(await typeCheck(compiler, compiler)).toBe('');
}, 180_000);

test("the type tests pass on @trpc/server's floor (11.0.0), with the lowest TypeScript", async () => {
  expect(await typeCheck('typescript-lowest', 'floor', FLOOR_PATHS, [TYPE_TESTS[0]!])).toBe('');
}, 180_000);

// The library's own `zod/v4` and the tests' `zod` both resolve to the floor: `paths` whose file is missing would
// fall back to the project's zod silently, so the program's files are listed too. Before 4.0.6, zod typed a
// `.catch()` schema's input as anything, so there a put of a value outside the field's enum type-checks (the
// catch answers it at run time): that one expected error is not one on the floor.
test("the type tests pass on zod 4's floor (4.0.0), with the lowest TypeScript", async () => {
  const printed = (await typeCheck('typescript-lowest', 'zod-floor', ZOD_FLOOR_PATHS, [TYPE_TESTS[0]!], ['--listFiles'])).split('\n');
  // The put's 0-based index is the 1-based line of the directive above it.
  const directive = readFileSync(TYPE_TESTS[0]!, 'utf8').split('\n').indexOf("    session.data.put('locale', 'de');");
  expect(printed.filter((line) => line !== '' && !line.startsWith('/'))).toEqual([`test/types.test.ts(${directive},5): error TS2578: Unused '@ts-expect-error' directive.`]);
  expect(printed.filter((file) => file.includes('/node_modules/zod/'))).toEqual([]);
  expect(printed.filter((file) => /\/node_modules\/zod-floor\/v4\/(classic|core)\//.test(file)).length).toBeGreaterThan(0);
}, 180_000);
