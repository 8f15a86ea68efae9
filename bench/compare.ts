/**
 * The main run: every scenario against every server, interleaved in rounds, with Redis commands counted.
 */
import type { Redis } from 'ioredis';
import type { RedisServer } from '../test/helpers/redis-server.js';
import { runLoad } from './load.js';
import { add, commandStats, difference, observeSources, splitBySource, type CommandCounts, type CommandSources } from './redis-commands.js';
import { createSessionPool, recordRequest, SCENARIOS, type RecordedRequest, type Scenario } from './scenarios.js';
import { startServer, type ServerProcess } from './server-process.js';
import type { ServerSpec } from './server.js';
import { BASELINE, VARIANTS } from './variants/index.js';

export interface CompareOptions {
  connections: number;
  /** Seconds per measured run of one scenario on one server. */
  duration: number;
  /** Measured runs per scenario and server, one a round, interleaved with the other servers'. */
  rounds: number;
  /** Seconds of mixed traffic per server before measuring, for the JIT and the scripts' first EVAL. */
  warmup: number;
  /**
   * Seconds of the same scenario on the same server, unmeasured, just before each measured run: a server
   * that sat idle while the others ran starts slow, and without this the first runs after a pause read low.
   */
  runWarmup: number;
  /** Extra `node` arguments for the server processes (`--cpu-prof`). */
  serverNodeArgs: string[];
  /** Only servers whose label contains one of these (the baseline always runs). */
  only: string[];
}

/** What one scenario measured on one server, over all rounds. */
export interface Cell {
  requests: number;
  /** Requests sent, the denominator of commands per request. */
  sent: number;
  seconds: number;
  /** Server process CPU time (user + system), microseconds. */
  cpuMicros: number;
  p50Ms: number[];
  p99Ms: number[];
  /** Each round's req/s over the baseline's in the same round (empty for the baseline itself). */
  ratios: number[];
  /** The req/s of each measured run. */
  runRates: number[];
  failures: number;
  commands: CommandCounts;
  sources: CommandSources;
}

export interface ServerRow {
  spec: ServerSpec;
  label: string;
  cells: Map<string, Cell>;
}

/**
 * The servers compared: every variant on both adapters (express-session on Express only). trpc-session on
 * Redis runs as the README recommends, with ioredis's auto-pipelining, and once more without it on each
 * adapter, to show what it changes.
 */
export function serverSpecs(redisUrl: string): ServerSpec[] {
  const specs: ServerSpec[] = [];
  for (const adapter of ['express', 'standalone'] as const) {
    for (const [variant, traits] of Object.entries(VARIANTS)) {
      if (adapter === 'standalone' && traits.expressOnly) continue;
      specs.push({ adapter, variant: variant as ServerSpec['variant'], redisUrl, autoPipelining: variant === 'trpc-session redis' });
    }
    specs.push({ adapter, variant: 'trpc-session redis', redisUrl, autoPipelining: false });
  }
  return specs;
}

export function labelOf(spec: ServerSpec): string {
  return `${spec.adapter} · ${spec.variant}${spec.variant === 'trpc-session redis' && !spec.autoPipelining ? ' (no auto-pipelining)' : ''}`;
}

interface Prepared {
  server: ServerProcess;
  row: ServerRow;
  origin: string;
  cookies: string[];
  requests: Map<string, RecordedRequest & { withCookie: boolean }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Replays a scenario's request a few times, one at a time, as one client. */
async function replay(prepared: Prepared, scenario: Scenario, times: number): Promise<void> {
  const request = prepared.requests.get(scenario.name)!;
  for (let index = 0; index < times; index++) {
    const headers = scenario.withCookie ? { ...request.headers, cookie: prepared.cookies[0]! } : request.headers;
    const response = await fetch(prepared.origin + request.path, { method: request.method, headers, body: request.body });
    if (!response.ok) throw new Error(`${prepared.row.label} ${scenario.name}: HTTP ${response.status}`);
    await response.arrayBuffer();
  }
}

/** Waits until after-response writes have landed: two readings of the counts a moment apart agree. */
async function settledStats(admin: Redis): Promise<CommandCounts> {
  let previous = await commandStats(admin);
  for (let attempt = 0; attempt < 40; attempt++) {
    await sleep(50);
    const current = await commandStats(admin);
    if (JSON.stringify(difference(current, previous)) === '{}') return current;
    previous = current;
  }
  return previous;
}

/**
 * One measured run of a scenario on a server, added to its cell; returns its req/s. `stats` holds the counts
 * settled after the previous run, and is moved on to this run's.
 */
async function measure(entry: Prepared, scenario: Scenario, admin: Redis, stats: { settled: CommandCounts }, options: CompareOptions): Promise<number> {
  const cell = entry.row.cells.get(scenario.name)!;
  await runLoad(entry.origin, [entry.requests.get(scenario.name)!], entry.cookies, { connections: options.connections, duration: options.runWarmup });
  stats.settled = await settledStats(admin);
  const cpuBefore = await entry.server.cpuMicros();
  const result = await runLoad(entry.origin, [entry.requests.get(scenario.name)!], entry.cookies, {
    connections: options.connections,
    duration: options.duration,
  });
  cell.cpuMicros += (await entry.server.cpuMicros()) - cpuBefore;
  const settled = await settledStats(admin);
  add(cell.commands, difference(settled, stats.settled));
  stats.settled = settled;
  cell.requests += result.requests;
  cell.sent += result.sent;
  cell.seconds += result.seconds;
  cell.p50Ms.push(result.p50Ms);
  cell.p99Ms.push(result.p99Ms);
  cell.runRates.push(result.requests / result.seconds);
  cell.failures += result.failures;
  return result.requests / result.seconds;
}

async function prepare(server: ServerProcess, connections: number): Promise<Prepared> {
  const requests = new Map<string, RecordedRequest & { withCookie: boolean }>();
  for (const scenario of SCENARIOS) requests.set(scenario.name, { ...(await recordRequest(server.url, scenario)), withCookie: scenario.withCookie });
  return {
    server,
    row: { spec: server.spec, label: labelOf(server.spec), cells: new Map() },
    origin: new URL(server.url).origin,
    cookies: await createSessionPool(server.url, connections),
    requests,
  };
}

export async function compare(redis: RedisServer, options: CompareOptions, log: (line: string) => void): Promise<ServerRow[]> {
  const specs = serverSpecs(redis.url).filter(
    (spec) => spec.variant === BASELINE || options.only.length === 0 || options.only.some((part) => labelOf(spec).includes(part)),
  );
  const admin: Redis = redis.client();
  const servers: ServerProcess[] = [];
  try {
    for (const spec of specs) servers.push(await startServer(spec, options.serverNodeArgs));
    const prepared: Prepared[] = [];
    for (const server of servers) prepared.push(await prepare(server, options.connections));

    log(`warming up ${prepared.length} servers (${options.warmup} s each)`);
    for (const entry of prepared) {
      await runLoad(entry.origin, [...entry.requests.values()], entry.cookies, { connections: options.connections, duration: options.warmup });
    }

    // Which commands run inside scripts, seen with MONITOR on a few sequential calls (never under load).
    for (const entry of prepared) {
      for (const scenario of SCENARIOS) {
        const sources = await observeSources(redis.port, async () => {
          await replay(entry, scenario, 5);
          await sleep(100); // writes after the response
        });
        entry.row.cells.set(scenario.name, { requests: 0, sent: 0, seconds: 0, cpuMicros: 0, p50Ms: [], p99Ms: [], ratios: [], runRates: [], failures: 0, commands: {}, sources });
      }
    }

    const groups = (['express', 'standalone'] as const).map((adapter) => {
      const members = prepared.filter((entry) => entry.server.spec.adapter === adapter);
      // The baseline first, so the first round runs it before the others.
      return [...members.filter((entry) => entry.server.spec.variant === BASELINE), ...members.filter((entry) => entry.server.spec.variant !== BASELINE)];
    });
    const stats = { settled: await settledStats(admin) };
    for (let round = 0; round < options.rounds; round++) {
      for (const scenario of SCENARIOS) {
        for (const members of groups) {
          // Every server of the adapter, the baseline among them, runs once a round, in an order that turns
          // each round, so all wait as long between runs. With the baseline bracketing each round instead
          // (twice the runs, half the wait), its own code in a second process measured 0.75 to 0.87 of it.
          const shift = round % members.length;
          const rates = new Map<Prepared, number>();
          for (const entry of [...members.slice(shift), ...members.slice(0, shift)]) rates.set(entry, await measure(entry, scenario, admin, stats, options));
          const baseline = rates.get(members[0]!)!;
          for (const [entry, value] of rates) if (entry !== members[0]) entry.row.cells.get(scenario.name)!.ratios.push(value / baseline);
        }
        log(`round ${round + 1}/${options.rounds}: ${scenario.name} done`);
      }
    }
    return prepared.map((entry) => entry.row);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    admin.disconnect();
  }
}

/** Requests per second of a cell, over all its runs. */
export const rate = (cell: Cell) => cell.requests / cell.seconds;

/** Server CPU microseconds per request of a cell. */
export const cpuPerRequest = (cell: Cell) => cell.cpuMicros / cell.requests;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Client-sent and script-internal Redis commands per request. */
export function commandsPerRequest(cell: Cell): { client: number; internal: number } {
  const { client, internal } = splitBySource(cell.commands, cell.sources);
  return { client: client / cell.sent, internal: internal / cell.sent };
}
