import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** The repository's root. */
export const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'packed');

const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** A hash of everything the tarball is made from, so a run reuses a tarball only of the same sources. */
function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [...filesUnder(join(ROOT, 'src')), ...['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'tsup.config.ts'].map((name) => join(ROOT, name))]) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * The library as `npm pack` makes it (built with tsup), once per source state however many test files ask at
 * the same time. It is built into a staging copy of the package, never into the repository's `dist/`, which
 * test/package.test.ts rebuilds while other files run. Resolves to the tarball's path.
 */
export async function packedLibrary(): Promise<string> {
  const dir = join(ARTIFACTS, sourceHash());
  const done = join(dir, 'tarball');
  const lock = join(dir, 'lock');
  mkdirSync(dir, { recursive: true });
  for (;;) {
    if (existsSync(done)) return readFileSync(done, 'utf8');
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test file is building it: wait for its tarball (or take over a lock left by a killed run).
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      await sleep(250);
    }
  }
  try {
    const stage = join(dir, 'package');
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage);
    for (const name of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) cpSync(join(ROOT, name), join(stage, name));
    run(join(ROOT, 'node_modules', '.bin', 'tsup'), ['--out-dir', join(stage, 'dist')], ROOT);
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], stage)) as { filename: string }[];
    const tarball = join(dir, packed!.filename);
    writeFileSync(done, tarball);
    return tarball;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Installs the packed library as `node_modules/trpc-session` of `dir`, a folder inside the repository: its
 * dependencies and peers (cookie, msgpackr, @trpc/server, ioredis, zod) resolve from the repository's
 * `node_modules`, as an installed package's would.
 */
export async function installPackedLibrary(dir: string): Promise<void> {
  const tarball = await packedLibrary();
  const target = join(dir, 'node_modules', 'trpc-session');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], dir);
}
