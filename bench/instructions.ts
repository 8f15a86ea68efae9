import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { compiledInWindow } from './instructions-window.js';
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

/**
 * Cycles run before the measured window: long enough, at the interrupt budget of `NODE_FLAGS`, for V8 to have
 * optimized every function a cycle runs, so the window counts the cycles' steady cost and no compilation.
 */
export const WARM_UP_CYCLES = 6_000;
/** Cycles in the measured window. */
export const MEASURED_CYCLES = 1_000;

/**
 * The instructions callgrind counted in one of its dumps (`summary: N`, or `totals: N` in older formats).
 * The window's dump is the second: `--dump-before` dumps as each of the harness's two checkpoints is entered.
 */
export function dumpedInstructions(dump: string): number {
  const match = /^(?:summary|totals): (\d+)\s*$/m.exec(dump);
  if (match === null) throw new Error(`no "summary:" line in callgrind's dump:\n${dump.slice(0, 2000)}`);
  return Number(match[1]);
}

/** Instructions per cycle: the measured window's count over its cycles. */
export const perCycle = (window: number) => window / MEASURED_CYCLES;

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
 * fixed order, so the same code counts the same. The next four take out what is decided by the clock rather
 * than by the code, which under callgrind (50 times slower, on a shared machine) varies from run to run: the
 * memory reducer's collections (started by a timer), incremental marking (steps sized in milliseconds), and the
 * old generation's limit (grown by measured GC speed): the old generation is never collected in these runs. The
 * young generation is fixed and small (1 MB semi-spaces, V8's smallest default), so a window of the cheapest row
 * still holds a few scavenges, and the cost of a cycle's allocations is counted in proportion to them. The
 * interrupt budget, a sixteenth of V8's, makes a function hot in a sixteenth of the calls: by the end of
 * `WARM_UP_CYCLES` TurboFan has compiled what the cycles run, which at V8's own budget it still does after
 * 16,000 cycles (what a server pays once, not per request). Allocation-site pretenuring is off: V8 starts
 * allocating a literal's objects in the old generation once nearly all of them are found alive at a
 * scavenge, which depends on where the scavenges fall among a cycle's allocations; a change that allocated a
 * little less elsewhere moved "read the basket" by an eighth, with its own path unchanged (see bench/RESULTS.md).
 */
export const NODE_FLAGS = [
  '--predictable',
  '--no-memory-reducer',
  '--no-incremental-marking',
  '--initial-old-space-size=512',
  '--min-semi-space-size=1',
  '--max-semi-space-size=1',
  '--interrupt-budget=4224',
  '--no-allocation-site-pretenuring',
  // The harness empties the young generation before its window (see bench/instructions-cycle.ts).
  '--expose-gc',
];

/**
 * The native function the harness's checkpoints call (`process.cpuUsage()`), nothing else in a cycle does:
 * callgrind dumps its counts as it is entered, so the second dump holds the measured window alone, whatever
 * start-up and warm-up cost (module loading, which varies from process to process, among them).
 */
const CHECKPOINT = 'node::CPUUsage*';

/**
 * One row's measured window, in one process of the harness under callgrind: its instructions, and what V8
 * compiled or deoptimized during it (`--trace-opt --trace-deopt`, which print nothing while nothing happens).
 */
async function count(bundlePath: string, row: InstructionRow, redisPort: number | undefined): Promise<{ instructions: number; compiled: string[] }> {
  const dumps = mkdtempSync(`${WORK_DIR}callgrind-`);
  try {
    const args = [
      '--tool=callgrind',
      `--callgrind-out-file=${dumps}/out`,
      `--dump-before=${CHECKPOINT}`,
      'node',
      ...NODE_FLAGS,
      '--trace-opt',
      '--trace-deopt',
      bundlePath,
      row,
      String(WARM_UP_CYCLES),
      String(MEASURED_CYCLES),
      ...(redisPort === undefined ? [] : [String(redisPort)]),
    ];
    const { stdout } = await run('valgrind', args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { instructions: dumpedInstructions(readFileSync(`${dumps}/out.2`, 'utf8')), compiled: compiledInWindow(stdout) };
  } finally {
    rmSync(dumps, { recursive: true, force: true });
  }
}

/** The harness's sources, by their hash: a cached count was measured with the same harness. */
const harnessHash = () =>
  ['instructions-cycle.ts', 'instructions-window.ts', 'basket.ts']
    .reduce((hash, file) => hash.update(readFileSync(`${ROOT}bench/${file}`)), createHash('sha256'))
    .digest('hex')
    .slice(0, 12);

/** What a cached count was measured with: the same Node, harness, window and flags, or it is measured again. */
const METHOD = `${process.version}, harness ${harnessHash()}, ${WARM_UP_CYCLES} + ${MEASURED_CYCLES} cycles, ${NODE_FLAGS.join(' ')}`;

/** Processes under callgrind at once: each is single-threaded (`--predictable`), and its count does not depend on the load. */
const PARALLEL_COUNTS = 4;

/**
 * Every row of one version, on the memory store and on Redis at `redisPort`. A committed version's counts are
 * kept in `cacheFile` (by `METHOD`: the count is of Node's instructions too), and measured once.
 */
async function measureVersion(
  bundlePath: () => Promise<string>,
  stores: readonly InstructionStore[],
  redisPort: number,
  cacheFile: string | null,
  log: (line: string) => void,
): Promise<VersionCounts> {
  const cache: Record<string, VersionCounts> = cacheFile !== null && existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
  const counts: VersionCounts = cache[METHOD] ?? {};
  let bundled: string | undefined;
  for (const store of stores) {
    if (counts[store] !== undefined) {
      log(`${store} store: measured before, in ${cacheFile}`);
      continue;
    }
    const rows = {} as Record<InstructionRow, number>;
    const port = store === 'redis' ? redisPort : undefined;
    bundled ??= await bundlePath();
    const waiting = [...INSTRUCTION_ROWS];
    const worker = async () => {
      for (let row = waiting.shift(); row !== undefined; row = waiting.shift()) {
        const { instructions, compiled } = await count(bundled!, row, port);
        rows[row] = perCycle(instructions);
        // Not steady: the count holds a compilation, and moves when the code compiled a little earlier or later.
        const unsteady = compiled.length === 0 ? '' : `; NOT STEADY, V8 compiled during the window: ${compiled.join(', ')}`;
        log(`${store} store, ${row}: ${formatted(rows[row])} instructions per cycle${unsteady}`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_COUNTS }, worker));
    counts[store] = rows;
    if (cacheFile !== null) writeFileSync(cacheFile, JSON.stringify({ ...cache, [METHOD]: counts }, null, 2));
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
