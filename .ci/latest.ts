// `npm run test:latest`: the drift check, outside the gate. CI installs exact, locked versions everywhere; this
// makes a copy of the consumer project (test/fixtures/consumer) with npm's latest of every peer and tool in it,
// runs the packaging and type tests of the packed package against that copy (test/package.test.ts), and prints
// what moved and what passed. A failure here is news about the registry, not a red CI.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const fixture = join(root, 'test', 'fixtures', 'consumer');
const manifest = JSON.parse(readFileSync(join(fixture, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<'peerDependencies' | 'dependencies', Record<string, string>>;
/** The package's ranges: its peers' and its own dependencies' (installed beside it in the consumer project). */
const ranges = { ...own.dependencies, ...own.peerDependencies };

/** Whether a version is in a range of caret parts (`^5.4.0 || ^6.0.0`, the only form the package uses): its major. */
const inRange = (version: string, range: string) => range.split('||').some((part) => part.trim().replace('^', '').split('.')[0] === version.split('.')[0]);

/** `npm:typescript@7.0.2` (an alias) or `7.0.2`: the registry name and the locked version. */
const parse = (name: string, spec: string) => {
  const alias = /^npm:(@?[^@]+)@(.+)$/.exec(spec);
  return alias ? { pkg: alias[1]!, locked: alias[2]! } : { pkg: name, locked: spec };
};

const rows: { name: string; locked: string; latest: string; note: string }[] = [];
for (const group of ['dependencies', 'devDependencies']) {
  for (const [name, spec] of Object.entries(manifest[group] ?? {})) {
    const { pkg, locked } = parse(name, spec);
    // A floor stays the floor: the lowest version supported, not a drift. The alias of @trpc/server's
    // (trpc-server-floor), and `typescript`, the lowest TypeScript (package.test.ts's `lowest` compiler; at the
    // latest, 7, it would only repeat `typescript7` and leave TypeScript 5 and node10 unchecked).
    if (name.endsWith('-floor') || name === 'typescript') {
      rows.push({ name, locked, latest: locked, note: 'floor, kept' });
      continue;
    }
    const latest = execFileSync('npm', ['view', `${pkg}@latest`, 'version'], { encoding: 'utf8' }).trim();
    manifest[group]![name] = pkg === name ? latest : `npm:${pkg}@${latest}`;
    const range = ranges[pkg];
    const note = range && !inRange(latest, range) ? `outside the package's range ${range}` : '';
    rows.push({ name, locked, latest, note });
  }
}

const copy = mkdtempSync(join(tmpdir(), 'trpc-session-latest-'));
writeFileSync(join(copy, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
// A full install, asking the registry afresh: it also puts every tarball in npm's cache, where the test's
// `npm ci --prefer-offline` looks first (a cached package list older than the lockfile would miss new versions).
execFileSync('npm', ['install', '--prefer-online', '--no-audit', '--no-fund'], { cwd: copy, stdio: 'inherit' });
rmSync(join(copy, 'node_modules'), { recursive: true, force: true });

const report = join(copy, 'vitest.json');
const vitest = spawnSync('npx', ['vitest', 'run', 'test/package.test.ts', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TRPC_SESSION_CONSUMER: copy },
});

const width = Math.max(...rows.map((row) => row.name.length));
console.log('\nnpm run test:latest: the consumer project with npm\'s latest versions\n');
console.log(`${'package'.padEnd(width)}  ${'locked'.padEnd(10)}  ${'latest'.padEnd(10)}`);
for (const { name, locked, latest, note } of rows) {
  console.log(`${name.padEnd(width)}  ${locked.padEnd(10)}  ${latest.padEnd(10)}  ${latest === locked ? '' : 'moved'}${note ? `  (${note})` : ''}`);
}
try {
  const results = JSON.parse(readFileSync(report, 'utf8')) as { testResults: { assertionResults: { fullName: string; status: string }[] }[] };
  console.log('');
  for (const { fullName, status } of results.testResults.flatMap((file) => file.assertionResults)) console.log(`${status === 'passed' ? 'pass' : status}  ${fullName}`);
} catch {
  console.log('\n(no test report: vitest did not run to the end)');
}
rmSync(copy, { recursive: true, force: true });
process.exit(vitest.status ?? 1);
