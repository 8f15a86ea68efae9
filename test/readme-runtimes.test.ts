import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ROOT } from './helpers/packed-library.js';

// The table is on the site's runtimes page; that each example file is shown verbatim is test/readme.test.ts's check.
const readme = readFileSync(join(ROOT, 'docs', 'guide', 'runtimes.md'), 'utf8');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

test('the tested runtimes table names the versions the lockfile installs', () => {
  const version = (name: string) => (JSON.parse(read(`node_modules/${name}/package.json`)) as { version: string }).version;
  expect(readme).toContain(`| Bun | ${version('bun')} |`);
  expect(readme).toContain(`| Deno | ${version('deno')} |`);
  expect(readme).toContain(`| Next.js + React, in Chromium | ${version('next')}, ${version('react')} `);
});

test("the support table names the versions CI locks: Node's, TypeScript's, tRPC's and its floor, zod's, its floor and 3.25's, ioredis 5's and 6's, the consumer's ioredis, Next.js's", () => {
  // The support table is on the site's getting-started page (Install), the runtimes table on the runtimes page.
  const pages = `${read('docs/guide/getting-started.md')}\n${readme}`;
  const pinned = (path: string, name: string) => /@(\d[^"]*)$/.exec((JSON.parse(read(path)) as { devDependencies: Record<string, string> }).devDependencies[name]!)![1];
  const node = (major: number) => pinned('test/fixtures/node/package.json', `node${major}`);
  expect(pages).toContain(`| Node.js | 22, 24, 26 (\`engines: >=22\`; 20 is past its end of life) | ${node(26)} the whole suite; ${node(24)} and ${node(22)} the Redis-facing files \`.ci/run\` lists and the packaging tests |`);
  expect(pages).toContain(`| Node.js | ${node(26)} (${node(24)} and ${node(22)}: the Redis-facing files \`.ci/run\` lists and the packaging tests, see Install) |`);
  expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe('>=22');
  expect(pages).toContain(`| ${pinned('package.json', 'typescript-lowest')}, 5.9.3, ${pinned('package.json', 'typescript7')} (type tests`);
  expect(pages).toContain(`also on ${pinned('package.json', 'trpc-server-floor')} |`);
  // zod 3.25: the schema tests' (the `zod3` alias) and the packed package's project's (test/fixtures/consumer-zod3).
  const zod3 = (JSON.parse(read('test/fixtures/consumer-zod3/package.json')) as { dependencies: Record<string, string> }).dependencies['zod']!;
  expect(pinned('package.json', 'zod3')).toBe(zod3);
  expect(pages).toContain(`; ${zod3}'s \`zod/v4\` (the schema tests, and the packed package installed beside zod ${zod3}`);
  const consumer = JSON.parse(read('test/fixtures/consumer/package.json')) as { dependencies: Record<string, string> };
  expect(pages).toContain(`, ${consumer.dependencies['ioredis']} (the packed package) |`);
  // The versions of the project's own lockfile, which the suite runs with.
  const installed = (name: string) => (JSON.parse(read(`node_modules/${name}/package.json`)) as { version: string }).version;
  expect(pages).toContain(`| ${installed('@trpc/server')}; the type tests`);
  expect(pages).toContain(`| ${installed('zod')}; ${pinned('package.json', 'zod-floor')} (the schema checks and the type tests); `);
  expect(pages).toContain(`| ${installed('ioredis')} and ${installed('ioredis6')} (the Redis tests with each), `);
  expect(pages).toContain(`| ${installed('next')} with React ${installed('react')}: \`examples/next/\` built and run in Chromium`);
});
