import { commandsPerRequest, cpuPerRequest, median, rate, type Cell, type ServerRow } from './compare.js';
import type { MicroResult } from './micro.js';
import { table } from './results-file.js';
import { SCENARIOS } from './scenarios.js';
import { BASELINE, CONTROL, FLOOR, type VariantName } from './variants/index.js';

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** The server of `row`'s adapter running `variant`, if this run has it (a run with `--only` may not). */
function sameAdapter(rows: readonly ServerRow[], row: ServerRow, variant: VariantName): ServerRow | undefined {
  return rows.find((other) => other.spec.adapter === row.spec.adapter && other.spec.variant === variant);
}

function baselineOf(rows: readonly ServerRow[], row: ServerRow): ServerRow {
  return sameAdapter(rows, row, BASELINE)!;
}

/**
 * The cell's best run over the no-session baseline's best run, each of one run a round. On a shared machine a
 * run can only be slowed down by what else runs, never sped up, so a server's best run is the closest to what
 * it can do (as Python's `timeit` takes the fastest repeat).
 */
export function ratio(rows: readonly ServerRow[], row: ServerRow, scenario: string): number {
  const best = (of: ServerRow) => Math.max(...of.cells.get(scenario)!.runRates);
  return best(row) / best(baselineOf(rows, row));
}

/** The median over rounds of the cell's req/s over the no-session baseline's in the same round. */
export function medianRatio(row: ServerRow, scenario: string): number {
  return row.spec.variant === BASELINE ? 1 : median(row.cells.get(scenario)!.ratios);
}

/** The baseline's server CPU per request over the cell's: the throughput ratio a CPU-bound server would see. */
export function cpuRatio(rows: readonly ServerRow[], row: ServerRow, scenario: string): number {
  return cpuPerRequest(baselineOf(rows, row).cells.get(scenario)!) / cpuPerRequest(row.cells.get(scenario)!);
}

interface TargetCheck {
  what: string;
  measured: string;
  verdict: string;
}

/**
 * How far from 1 noise alone moved a ratio in this run: the A/A control's farthest, over every scenario and
 * adapter. One cell of the control is a single draw of the noise, and may land near 1 by chance.
 */
function runNoise(rows: readonly ServerRow[]): number | undefined {
  const controls = rows.filter((row) => row.spec.variant === CONTROL);
  if (controls.length === 0) return undefined;
  return Math.max(...controls.flatMap((control) => SCENARIOS.map(({ name }) => Math.abs(1 - ratio(rows, control, name)))));
}

/** "yes" or "no", unless the value is nearer the bar than this run's noise: then it says so instead. */
function verdict(value: number, bar: number, noise: number | undefined): string {
  if (noise !== undefined && Math.abs(value - bar) < noise) return `within this run's noise (±${fixed(noise, 2)})`;
  return value >= bar ? 'yes' : '**no**';
}

/**
 * The verdict on a read or write target, with what the same round trips alone (the floor) reached in this run
 * when that was short of the bar too: a session that makes them cannot do better than they do.
 */
function roundTripVerdict(value: number, bar: number, noise: number | undefined, floor: number | undefined): string {
  const plain = verdict(value, bar, noise);
  return floor === undefined || plain === 'yes' || floor >= bar ? plain : `${plain}; the round trips alone (floor) reached ${fixed(floor, 3)}`;
}

/** The issue's targets, checked for trpc-session on Redis as the README recommends it (auto-pipelining on). */
export function checkTargets(rows: readonly ServerRow[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const noise = runNoise(rows);
  for (const row of rows.filter((candidate) => candidate.spec.variant === 'trpc-session redis' && candidate.spec.autoPipelining)) {
    const adapter = row.spec.adapter;
    const control = sameAdapter(rows, row, CONTROL);
    const floorRow = sameAdapter(rows, row, FLOOR);
    // The floor bounds a single read or write; in a batch it makes five calls' round trips, not one's.
    const floor = (scenario: string) => (floorRow !== undefined && (scenario === 'read' || scenario === 'write') ? ratio(rows, floorRow, scenario) : undefined);
    const measured = (scenario: string) =>
      `${fixed(ratio(rows, row, scenario), 3)} (median of rounds ${fixed(medianRatio(row, scenario), 3)}` +
      `${control === undefined ? '' : `; A/A ${fixed(ratio(rows, control, scenario), 3)}`}` +
      `${floor(scenario) === undefined ? '' : `; floor ${fixed(floor(scenario)!, 3)}`})`;
    const commands = (scenario: string) => commandsPerRequest(row.cells.get(scenario)!);
    const untouchedCommands = commands('untouched').client + commands('untouched').internal;
    checks.push({
      what: `${adapter}: never-touching call ≥ 0.98 with 0 Redis commands`,
      measured: `${measured('untouched')}, ${fixed(untouchedCommands, 2)} commands`,
      verdict: untouchedCommands === 0 ? verdict(ratio(rows, row, 'untouched'), 0.98, noise) : '**no**',
    });
    checks.push({
      what: `${adapter}: reading call ≥ 0.92 with at most 1 round trip`,
      measured: `${measured('read')}, ${fixed(commands('read').client, 2)} round trips`,
      verdict: commands('read').client <= 1.0005 ? roundTripVerdict(ratio(rows, row, 'read'), 0.92, noise, floor('read')) : '**no**',
    });
    for (const scenario of ['write', 'batch']) {
      checks.push({
        what: `${adapter}: reading+writing (${scenario}) ≥ 0.88`,
        measured: measured(scenario),
        verdict: roundTripVerdict(ratio(rows, row, scenario), 0.88, noise, floor(scenario)),
      });
    }
    const peer = sameAdapter(rows, row, 'express-session + connect-redis');
    if (peer === undefined) continue;
    for (const { name } of SCENARIOS) {
      const ahead = ratio(rows, row, name) / ratio(rows, peer, name);
      checks.push({ what: `${adapter}: ahead of express-session + connect-redis (${name})`, measured: `×${fixed(ahead, 2)}`, verdict: verdict(ahead, 1, noise) });
    }
  }
  return checks;
}

function cellRow(rows: readonly ServerRow[], row: ServerRow, scenario: string, cell: Cell): string[] {
  const commands = commandsPerRequest(cell);
  return [
    row.label,
    fixed(rate(cell), 0),
    row.spec.variant === BASELINE ? '1' : fixed(ratio(rows, row, scenario), 3),
    row.spec.variant === BASELINE ? '1' : `${fixed(medianRatio(row, scenario), 3)} (${fixed(Math.min(...cell.ratios), 2)}–${fixed(Math.max(...cell.ratios), 2)})`,
    fixed(cpuPerRequest(cell), 0),
    fixed(cpuRatio(rows, row, scenario), 3),
    // Of one core, its GC and I/O threads included: at 100 or more the server was busy the whole run.
    fixed(cell.cpuMicros / cell.seconds / 10_000, 0),
    fixed(mean(cell.p50Ms), 1),
    fixed(mean(cell.p99Ms), 1),
    fixed(commands.client, 2),
    fixed(commands.internal, 2),
    String(cell.failures),
  ];
}

/** The ratios table: one row per server, one column per scenario; `value` picks the ratio. */
export function ratiosTable(rows: readonly ServerRow[], value: (row: ServerRow, scenario: string) => number): string {
  return table(
    ['server', ...SCENARIOS.map((scenario) => scenario.name)],
    rows
      .filter((row) => row.spec.variant !== BASELINE)
      .map((row) => [row.label, ...SCENARIOS.map((scenario) => fixed(value(row, scenario.name), 2))]),
  );
}

export function comparisonMarkdown(rows: readonly ServerRow[], context: string, method: string): string {
  const checks = checkTargets(rows);
  const parts = [
    '## Throughput against the peers',
    context,
    method,
    '### Requests per second as a ratio to the no-session baseline of the same adapter, same run: best run ÷ best run',
    ratiosTable(rows, (row, scenario) => ratio(rows, row, scenario)),
    '### The same, as the median over rounds of each run over the baseline run of its round',
    ratiosTable(rows, medianRatio),
    '### Server CPU per request, as a ratio (baseline ÷ variant): less sensitive to the other load on the machine',
    ratiosTable(rows, (row, scenario) => cpuRatio(rows, row, scenario)),
    '### Targets (trpc-session on Redis)',
    table(
      ['target', 'measured', 'met'],
      checks.map((check) => [check.what, check.measured, check.verdict]),
    ),
  ];
  for (const scenario of SCENARIOS) {
    parts.push(`### ${scenario.name}: ${scenario.description}`);
    parts.push(
      table(
        ['server', 'req/s', 'best-run ratio', 'median round ratio (range)', 'server CPU µs/req', 'CPU ratio', 'server CPU, % of a core', 'p50 ms', 'p99 ms', 'Redis cmds/req sent', 'in scripts', 'failures'],
        rows.map((row) => cellRow(rows, row, scenario.name, row.cells.get(scenario.name)!)),
      ),
    );
  }
  return parts.join('\n\n');
}

export function microMarkdown(results: readonly MicroResult[], context: string): string {
  return [
    '## Micro-benchmarks',
    context,
    table(
      ['operation', 'ns/op', 'bytes'],
      results.map((result) => [result.name, fixed(result.nsPerOp, 0), result.bytes === undefined ? '' : String(result.bytes)]),
    ),
  ].join('\n\n');
}
