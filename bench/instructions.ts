import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { table } from './results-file.js';

const run = promisify(execFile);

/** The rows of `npm run bench -- --instructions`, as `bench/instructions-cycle.ts` names them. */
export const INSTRUCTION_ROWS = ['harness', 'untouched', 'read', 'read and write', 'new session', 'read the basket', 'change the basket'] as const;
export type InstructionRow = (typeof INSTRUCTION_ROWS)[number];

const ROW_LABELS: Record<InstructionRow, string> = {
  harness: 'the harness alone (request, response, no session)',
  untouched: 'createContext, session untouched',
  read: 'read a counter',
  'read and write': 'read and write it',
  'new session': 'new session',
  'read the basket': 'read a 12-line basket',
  'change the basket': 'change the basket in place',
};

/** Cycles run by the short and the long process: their difference cancels start-up and warm-up. */
export const SHORT_RUN = 200;
export const LONG_RUN = 1_200;

/** The instructions callgrind counted in a process, from its summary on stderr (`==pid== Collected : N`). */
export function collectedInstructions(stderr: string): number {
  const match = /^==\d+== Collected : (\d+)\s*$/m.exec(stderr);
  if (match === null) throw new Error(`no "Collected :" line in callgrind's output:\n${stderr.slice(-2000)}`);
  return Number(match[1]);
}

/** Instructions per cycle: the long run less the short run, over the cycles between them. */
export const perCycle = (short: number, long: number) => (long - short) / (LONG_RUN - SHORT_RUN);

/**
 * Processes run for each count, of which the lowest is kept: now and then one process counts about 100 million
 * instructions more than others running the same code (an event not explained yet, seen more often on a loaded
 * machine); none was seen to count fewer.
 */
export const PROCESSES_PER_COUNT = 2;

/** A count from the processes that measured it: the lowest. */
export const lowestCount = (counts: readonly number[]) => Math.min(...counts);

export const INSTRUCTION_STORES = ['memory', 'redis'] as const;
export type InstructionStore = (typeof INSTRUCTION_STORES)[number];

/** One version's instructions per cycle, by store and row (the harness's own row included). */
export type VersionCounts = Partial<Record<InstructionStore, Record<InstructionRow, number>>>;

export interface MeasuredVersion {
  /** What the column is headed with: a short commit and, for the working tree, a note. */
  label: string;
  counts: VersionCounts;
}

const formatted = (value: number) => Math.round(value).toLocaleString('en-US');

/**
 * The table: each row as instructions per cycle less the harness's (of the same store and version), one column
 * per version, and each later version's ratio to the first.
 */
export function instructionsMarkdown(versions: readonly MeasuredVersion[]): string {
  const head = ['library\'s own instructions per cycle (harness subtracted)', ...versions.map((version) => version.label)];
  for (const version of versions.slice(1)) head.push(`${version.label} ÷ ${versions[0]!.label}`);
  const rows: string[][] = [];
  for (const store of INSTRUCTION_STORES) {
    if (versions.some((version) => version.counts[store] === undefined)) continue;
    for (const row of INSTRUCTION_ROWS) {
      const own = (version: MeasuredVersion) => version.counts[store]![row] - (row === 'harness' ? 0 : version.counts[store]!.harness);
      const label = row === 'harness' ? `${ROW_LABELS[row]}, not subtracted` : ROW_LABELS[row];
      const cells = [`${store} store: ${label}`, ...versions.map((version) => formatted(own(version)))];
      for (const version of versions.slice(1)) cells.push(row === 'harness' ? '' : (own(version) / own(versions[0]!)).toFixed(2));
      rows.push(cells);
    }
  }
  return table(head, rows);
}

const ROOT = new URL('..', import.meta.url).pathname;
const WORK_DIR = new URL('./.tmp/instructions/', import.meta.url).pathname;

/** The harness bundled with the library's sources under `sourceRoot` (a directory holding `src/`). */
async function bundle(sourceRoot: string, name: string): Promise<string> {
  const outfile = `${WORK_DIR}${name}.mjs`;
  await build({
    entryPoints: [`${ROOT}bench/instructions-cycle.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The dependencies are this checkout's, for every version: the columns differ by the library's code alone.
    external: ['zod', 'msgpackr', 'cookie', 'ioredis', '@opentelemetry/api'],
    alias: { 'trpc-session-under-test': `${sourceRoot}/src/index.ts` },
    logLevel: 'error',
  });
  return outfile;
}

/** The sources of `commit`, checked out into a temporary worktree. Returns its directory. */
function checkout(commit: string): string {
  const dir = `${WORK_DIR}worktree-${commit}`;
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['worktree', 'add', '--detach', '--quiet', dir, commit], { cwd: ROOT });
  return dir;
}

function removeCheckout(dir: string): void {
  execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: ROOT });
}

/**
 * Node's flags under callgrind. `--predictable`: compilation and garbage collection on the main thread, in a
 * fixed order, so the same code counts the same. The rest take out what is decided by the clock rather than by
 * the code, which under callgrind (50 times slower, on a shared machine) varies from run to run: the memory
 * reducer's collections (started by a timer), incremental marking (steps sized in milliseconds), and the old
 * generation's limit (grown by measured GC speed). Without them one harness measured 191,284 and 301,227
 * instructions per cycle in two runs; with them the old generation is never collected in these short runs, so
 * the counts leave out mark-compact collections and keep every scavenge (the young generation's size is fixed).
 */
export const NODE_FLAGS = [
  '--predictable',
  '--no-memory-reducer',
  '--no-incremental-marking',
  '--initial-old-space-size=512',
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
];

/** The instructions of one process of the harness under callgrind. */
async function count(bundlePath: string, row: InstructionRow, iterations: number, redisPort: number | undefined): Promise<number> {
  const args = [
    '--tool=callgrind',
    '--callgrind-out-file=/dev/null',
    'node',
    ...NODE_FLAGS,
    bundlePath,
    row,
    String(iterations),
    ...(redisPort === undefined ? [] : [String(redisPort)]),
  ];
  const { stderr } = await run('valgrind', args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  return collectedInstructions(stderr);
}

/**
 * Every row of one version, on the memory store and on Redis at `redisPort`. A committed version's counts are
 * kept in `cacheFile` (by Node version: the count is of Node's instructions too), and measured once.
 */
async function measureVersion(
  bundlePath: () => Promise<string>,
  stores: readonly InstructionStore[],
  redisPort: number,
  cacheFile: string | null,
  log: (line: string) => void,
): Promise<VersionCounts> {
  const cache: Record<string, VersionCounts> = cacheFile !== null && existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  const counts: VersionCounts = cache[process.version] ?? {};
  let bundled: string | undefined;
  for (const store of stores) {
    if (counts[store] !== undefined) {
      log(`${store} store: measured before, in ${cacheFile}`);
      continue;
    }
    const rows = {} as Record<InstructionRow, number>;
    for (const row of INSTRUCTION_ROWS) {
      const port = store === 'redis' ? redisPort : undefined;
      bundled ??= await bundlePath();
      // All of a row's processes at once: callgrind's count does not depend on the load.
      const runs = (iterations: number) => Array.from({ length: PROCESSES_PER_COUNT }, () => count(bundled!, row, iterations, port));
      const [shorts, longs] = await Promise.all([Promise.all(runs(SHORT_RUN)), Promise.all(runs(LONG_RUN))]);
      rows[row] = perCycle(lowestCount(shorts), lowestCount(longs));
      log(`${store} store, ${row}: ${formatted(rows[row])} instructions per cycle`);
    }
    counts[store] = rows;
    if (cacheFile !== null) writeFileSync(cacheFile, JSON.stringify({ ...cache, [process.version]: counts }, null, 2));
  }
  return counts;
}

/**
 * `npm run bench -- --instructions [--base REV[,REV]]`: the instruction counts of the working tree, and of each
 * base commit (built from a temporary worktree of it), as a Markdown table.
 */
export async function instructions(
  bases: readonly string[],
  stores: readonly InstructionStore[],
  redisPort: number,
  log: (line: string) => void,
): Promise<string> {
  mkdirSync(WORK_DIR, { recursive: true });
  const versions: MeasuredVersion[] = [];
  for (const base of bases) {
    const commit = execFileSync('git', ['rev-parse', '--short', `${base}^{commit}`], { cwd: ROOT }).toString().trim();
    log(`base ${commit}`);
    let checkedOut: string | undefined;
    const bundlePath = async () => {
      checkedOut = checkout(commit);
      return bundle(checkedOut, `base-${commit}`);
    };
    try {
      versions.push({ label: commit, counts: await measureVersion(bundlePath, stores, redisPort, `${WORK_DIR}counts-${commit}.json`, log) });
    } finally {
      if (checkedOut !== undefined) removeCheckout(checkedOut);
    }
  }
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT }).toString().trim() !== '';
  const label = dirty ? `${head} + uncommitted changes` : head;
  log(label);
  // Named by process: two runs at once must not rewrite each other's bundle.
  versions.push({ label, counts: await measureVersion(() => bundle(ROOT, `current-${process.pid}`), stores, redisPort, null, log) });
  return instructionsMarkdown(versions);
}
