import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const committed = join(root, 'docs', 'api');

/** Every file under a folder, by its path inside it, with its text. */
function filesOf(folder: string): Record<string, string> {
  const paths = (readdirSync(folder, { recursive: true }) as string[]).filter((path) => statSync(join(folder, path)).isFile());
  return Object.fromEntries(paths.sort().map((path) => [path, readFileSync(join(folder, path), 'utf8')]));
}

// typedoc.json sets treatWarningsAsErrors: an undocumented export or a broken {@link} fails the build. The
// reference is committed (docs/api/, pages of the documentation site), so a change to the TSDoc that is not followed
// by `npm run docs` fails here.
test('the committed API reference (docs/api) is what `npm run docs` generates from the TSDoc, without a warning', async () => {
  const out = mkdtempSync(join(tmpdir(), 'trpc-session-docs-'));
  try {
    const result = await new Promise<{ code: number; printed: string }>((done) =>
      execFile(join(root, 'node_modules', '.bin', 'typedoc'), ['--out', out], { cwd: root, encoding: 'utf8' }, (error, stdout, stderr) =>
        done({ code: error === null ? 0 : Number(error.code ?? 1), printed: stdout + stderr }),
      ),
    );
    expect(result.printed).not.toMatch(/warning|error/i);
    expect(result.code).toBe(0);
    const fresh = filesOf(out);
    const pages = Object.values(fresh).join('\n');
    for (const name of ['createSessionManager', 'redisStore', 'createFastifyContext', 'fetchSessionHandler', 'createWSContext']) {
      expect(pages, `a page for ${name}`).toContain(`# Function: ${name}()`);
    }
    // Each class shows its own members: no error page repeats what `Error` and `TRPCError` have.
    expect(pages).not.toMatch(/captureStackTrace|stackTraceLimit|prepareStackTrace/);
    expect(filesOf(committed), 'docs/api is stale: run `npm run docs` and commit docs/api').toEqual(fresh);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 240_000);

test('the reference page links every page typedoc writes, once, in one of its two parts (your app, store authors)', () => {
  const reference = readFileSync(join(root, 'docs', 'reference.md'), 'utf8');
  const [app, storeAuthors] = reference.split('## For store authors') as [string, string];
  const linked = (text: string) => [...text.matchAll(/\]\(\.\/api\/([^)#]+)\)/g)].map((match) => match[1]!);
  const pages = Object.keys(filesOf(committed)).filter((path) => !path.endsWith('index.md'));
  const inApp = linked(app);
  const inStore = linked(storeAuthors);
  expect(pages.filter((path) => !inApp.includes(path) && !inStore.includes(path)), 'pages the reference does not link').toEqual([]);
  expect(inApp.filter((path) => inStore.includes(path)), 'pages in both parts').toEqual([]);
  expect(inStore).toEqual(expect.arrayContaining(['index/interfaces/SessionStore.md', 'testing/functions/storeContractCases.md']));
});

test("each error class's page says when it is thrown and what the client gets, the code the reference's table gives", () => {
  const reference = readFileSync(join(root, 'docs', 'reference.md'), 'utf8');
  const rows = [...reference.matchAll(/^\| \[`(Session\w+Error)`\]\([^)]+\) \| (.+?) \| (.+?) \|$/gm)];
  const classes = Object.keys(filesOf(join(committed, 'index', 'classes'))).map((file) => file.replace(/\.md$/, ''));
  expect(rows.map(([, name]) => name).sort(), 'a row of the table per error class but SessionError').toEqual(classes.filter((name) => name !== 'SessionError').sort());
  for (const [, name, code, when] of rows) {
    // What a page says first: above its "Extends" heading.
    const summary = readFileSync(join(committed, 'index', 'classes', `${name!}.md`), 'utf8').split('## Extends')[0]!;
    if (code === '(never thrown)') {
      expect(summary, `${name!}'s page`).toContain('never thrown');
      expect(when, `${name!}'s row`).toMatch(/^to `onError`/);
    } else {
      const [, trpcCode, status] = /^`([A-Z_]+)` \((\d{3})\)$/.exec(code!)!;
      expect(summary, `${name!}'s page names its code and status`).toMatch(new RegExp(`\`${trpcCode!}\`,?\\s\\(?${status!}`));
      expect(summary, `${name!}'s page says what throws it`).toMatch(/[Tt]hrown by/);
    }
  }
});

