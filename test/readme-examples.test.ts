import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ROOT } from './helpers/packed-library.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// The README shows these files as they are; the tests run them (test/next.e2e.test.ts, test/runtimes.e2e.test.ts).
const shown = [
  'examples/next/server/sessions.ts',
  'examples/next/server/router.ts',
  'examples/next/app/api/trpc/[trpc]/route.ts',
  'examples/next/pages/api/pages-trpc/[trpc].ts',
  'examples/next/app/actions.ts',
  'examples/next/app/page.tsx',
  'examples/next/app/basket-client.tsx',
  'examples/runtimes/bun-serve.ts',
  'examples/runtimes/deno-serve.ts',
  'examples/runtimes/deno-serve-export.ts',
  'examples/runtimes/node-http.ts',
];

test.each(shown)('the README shows %s as it is', (path) => {
  const language = path.endsWith('.tsx') ? 'tsx' : 'ts';
  expect(readme).toContain(`\`${path}\`\n\n\`\`\`${language}\n${read(path)}\`\`\`\n`);
});

test('the tested runtimes table names the versions the lockfile installs', () => {
  const version = (name: string) => (JSON.parse(read(`node_modules/${name}/package.json`)) as { version: string }).version;
  expect(readme).toContain(`| Bun | ${version('bun')} |`);
  expect(readme).toContain(`| Deno | ${version('deno')} |`);
  expect(readme).toContain(`| Next.js + React, in Chromium | ${version('next')}, ${version('react')} `);
});
