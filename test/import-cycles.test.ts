import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/**
 * The modules of src/ each file imports: `import`, `import type`, `export … from` and `import()`, type-only
 * imports included, since a cycle of types is still a cycle of concerns.
 */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm)].map((match) => match[1]!);
  return specifiers.map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
}

/** The import cycles of a graph (module to the modules it imports), each as its modules, by depth-first search. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'visiting');
    path.push(file);
    for (const target of graph.get(file)!) {
      if (state.get(target) === 'visiting') cycles.push([...path.slice(path.indexOf(target)), target]);
      else if (state.get(target) === undefined) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  return cycles;
}

test('every import in src/ is read, and names a module of src/', () => {
  const files = sources(SRC);
  expect(files.length).toBeGreaterThan(10);
  for (const file of files) for (const target of importsOf(file)) expect(files, `${relative(SRC, file)} imports ${target}`).toContain(target);
  expect(importsOf(join(SRC, 'index.ts')).length).toBeGreaterThan(5);
});

test('the cycle finder finds direct and longer cycles', () => {
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['d']], ['e', ['a']]]);
  expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a'], ['d', 'd']]);
});

test('src/ has no import cycles, type-only imports included', () => {
  const files = sources(SRC);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));
  expect(findCycles(graph).map((cycle) => cycle.map((file) => relative(SRC, file)))).toEqual([]);
});
