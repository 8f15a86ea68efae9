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
