import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');

// typedoc.json sets treatWarningsAsErrors: an undocumented export or a broken {@link} fails the build.
test('the API reference builds from the TSDoc without a warning (npm run docs)', async () => {
  const out = mkdtempSync(join(tmpdir(), 'trpc-session-docs-'));
  try {
    const result = await new Promise<{ code: number; printed: string }>((done) =>
      execFile(join(root, 'node_modules', '.bin', 'typedoc'), ['--out', out], { cwd: root, encoding: 'utf8' }, (error, stdout, stderr) =>
        done({ code: error === null ? 0 : Number(error.code ?? 1), printed: stdout + stderr }),
      ),
    );
    expect(result.printed).not.toMatch(/warning|error/i);
    expect(result.code).toBe(0);
    const pages = readdirSync(out, { recursive: true }) as string[];
    for (const name of ['createSessionManager', 'redisStore', 'createFastifyContext', 'fetchSessionHandler', 'createWSContext']) {
      expect(pages.some((page) => page.endsWith(`${name}.html`)), `a page for ${name}`).toBe(true);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 240_000);
