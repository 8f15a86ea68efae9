import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { README, readmeBlocks, readmeInstallPackages } from './helpers/readme.js';

const root = resolve(import.meta.dirname, '..');
const blocks = readmeBlocks();

// The examples are type-checked by `tsc --noEmit` (tsconfig.json includes them) and, from the packed
// tarball in a fresh project, type-checked under three resolutions by test/package.test.ts, which runs the
// Quick start, clients, fastify and Hono ones; test/readme-examples.e2e.test.ts runs the rest from the sources,
// and test/browser-client.e2e.test.ts runs the browser client in Chromium.
test('every README code block says how the suite checks it', () => {
  const unmarked = blocks.filter((block) => !/^(example: \S+|install|not run: .+)$/.test(block.marker ?? ''));
  expect(
    unmarked.map((block) => `README.md:${block.line}`),
    'put <!-- example: examples/file.ts -->, <!-- install --> or <!-- not run: why --> above each block',
  ).toEqual([]);
});

test.each(blocks.filter((block) => block.marker?.startsWith('example: ')).map((block) => [block.marker!.slice('example: '.length), block] as const))(
  'the README block of %s is that file, verbatim',
  (file, block) => {
    const source = readFileSync(resolve(root, file), 'utf8');
    expect(block.code, `README.md:${block.line} differs from ${file}: copy the file into the README (or the block into the file)`).toBe(source);
  },
);

test('every example is shown in the README', () => {
  const shown = blocks.map((block) => block.marker).filter((marker) => marker?.startsWith('example: ')).map((marker) => marker!.slice('example: '.length));
  // examples/next and examples/runtimes are apps of their own, shown file by file; their tests run them whole.
  const files = (readdirSync(resolve(root, 'examples'), { recursive: true }) as string[])
    .filter((file) => /\.tsx?$/.test(file) && !file.endsWith('.d.ts') && !file.includes('node_modules') && !file.includes('.next'))
    .map((file) => `examples/${file}`);
  // Boilerplate the README describes in words rather than shows.
  const described = ['examples/next/next.config.ts', 'examples/next/app/layout.tsx', 'examples/runtimes/app.ts'];
  expect(files.filter((file) => !shown.includes(file) && !described.includes(file)), 'examples the README does not show').toEqual([]);
});

test("the install line names the package and its peers, and the Try it commands are the README's two", () => {
  expect(readmeInstallPackages()).toEqual(['trpc-session', '@trpc/server', 'zod', 'ioredis', '@trpc/client']);
  const manifest = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { peerDependencies: object; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  // An optional peer (@opentelemetry/api, for `telemetry`) is installed by those who use it, as its option says.
  const peers = Object.keys(manifest.peerDependencies).filter((name) => !manifest.peerDependenciesMeta?.[name]?.optional);
  expect(readmeInstallPackages()).toEqual(expect.arrayContaining(peers));
  const text = readFileSync(README, 'utf8');
  expect(text).toContain('npm ci && npm run demo');
  expect(text).toContain('npm ci && npm test');
});

test('the README opens with what it is, Install, Quick start and Client; the background comes last', () => {
  const headings = readFileSync(README, 'utf8').match(/^## .+$/gm)!;
  expect(headings.slice(0, 3)).toEqual(['## Install', '## Quick start', '## Client']);
  expect(headings.at(-1)).toBe('## Background');
  const text = readFileSync(README, 'utf8');
  expect(text.indexOf('Resonance')).toBeGreaterThan(text.indexOf('## Background'));
});
