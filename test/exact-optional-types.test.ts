import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');

// Many apps compile with `exactOptionalPropertyTypes`, where `{ label: input.device }` (a `string | undefined`)
// does not fit a `label?: string`. The library's optional input properties accept `undefined`, so the examples
// compile there as they are. The two client examples are left out: tRPC's own `fetch` option type does not fit
// the DOM's `RequestInit` under that flag (its `signal` may be `undefined`), whatever this library does. Errors in
// src/ are not the user's: a user's compiler reads the published declarations (with `skipLibCheck`), never them.
test('the examples type-check under exactOptionalPropertyTypes', async () => {
  const examples = (readdirSync(join(root, 'examples')) as string[])
    .filter((file) => file.endsWith('.ts') && !['browser-client.ts', 'node-client.ts'].includes(file))
    .map((file) => join(root, 'examples', file));
  const folder = mkdtempSync(join(tmpdir(), 'trpc-session-exact-'));
  try {
    const config = join(folder, 'tsconfig.json');
    writeFileSync(
      config,
      JSON.stringify({
        extends: join(root, 'tsconfig.json'),
        compilerOptions: { exactOptionalPropertyTypes: true, typeRoots: [join(root, 'node_modules', '@types')] },
        include: [],
        files: examples,
      }),
    );
    const printed = await new Promise<string>((done) =>
      execFile(join(root, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: root, encoding: 'utf8' }, (_error, stdout, stderr) => done(stdout + stderr)),
    );
    expect(printed.split('\n').filter((line) => line.startsWith('examples/'))).toEqual([]);
    expect(printed, 'tsc ran and read the examples').not.toMatch(/error TS(5|6|18003)\d*/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}, 120_000);
