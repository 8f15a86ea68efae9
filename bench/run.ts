/**
 * `npm run bench`: trpc-session against no session and its peers, in one run, on this machine.
 *
 *   npm run bench                      the full comparison and micro-benchmarks, written to bench/RESULTS.md
 *   npm run bench -- --quick           a smoke run of a few seconds; prints, writes nothing
 *   npm run bench -- --soak [--requests N]   1,000,000 (or N) mixed requests, heap sampled every tenth
 *   npm run bench -- --micro           the micro-benchmarks alone (under a minute), written to bench/RESULTS.md
 *   npm run bench -- --instructions [--base REV[,REV]] [--store memory|redis]   the request cycle's instructions
 *                                      under callgrind (needs valgrind), beside those of each commit REV (kept in
 *                                      bench/.tmp); prints
 *   npm run bench -- --redis-cpu [--calls N] [--rounds N] [--callgrind]   Redis's CPU per call of read, write, new
 *                                      session and regenerate beside the floor (INFO commandstats and INFO cpu), on
 *                                      a redis-server of its own; 2,000 calls (or N) per row and round, 5 rounds (or
 *                                      N); --callgrind adds redis-server's instructions per call (needs valgrind); prints
 *   --duration S --rounds N --connections N --only TEXT[,TEXT] --cpu-prof   for investigations
 */
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.js';
import type { CompareOptions } from './compare.js';
import { codecBenchmarks, contextBenchmarks, requestCycleBenchmarks, type MicroResult } from './micro.js';
import type { InstructionStore } from './instructions.js';
import { runContext, writeSection } from './results-file.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    micro: { type: 'boolean', default: false },
    instructions: { type: 'boolean', default: false },
    'redis-cpu': { type: 'boolean', default: false },
    calls: { type: 'string' },
    callgrind: { type: 'boolean', default: false },
    base: { type: 'string' },
    store: { type: 'string' },
    requests: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});

const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const log = (line: string) => console.log(`[bench] ${line}`);
const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
const connections = number(values.connections, 10);
// Only the default runs go on record; a run with investigation options prints its tables instead.
const record = !values.quick && values.duration === undefined && values.rounds === undefined && values.only === undefined && !values['cpu-prof'];

// The micro-benchmarks run first, before the comparison's modules (the peers' libraries among them) are
// loaded: once they were, the library's own code measured about twice as slow in this process.
let microResults: MicroResult[] | undefined;
if (values.micro || (!values.soak && !values.instructions && !values['redis-cpu'])) {
  log('micro-benchmarks');
  const scale = values.quick ? 0.1 : 1;
  microResults = [...codecBenchmarks(scale), ...contextBenchmarks(scale), ...(await requestCycleBenchmarks(scale))];
}
const { comparisonMarkdown, microMarkdown } = await import('./report.js');
const micro = microResults && microMarkdown(microResults, runContext(command));

if (values.micro) {
  if (record) writeSection('micro', micro!);
  console.log(micro);
  process.exit(0);
}

const redis = await startRedis();
try {
  if (values.instructions) {
    const { instructions, INSTRUCTION_STORES } = await import('./instructions.js');
    const stores = values.store === undefined ? INSTRUCTION_STORES : (values.store.split(',') as InstructionStore[]);
    console.log(await instructions(values.base?.split(',') ?? [], stores, redis.port, log));
  } else if (values['redis-cpu']) {
    const { redisCpu, redisCpuMarkdown } = await import('./redis-cpu.js');
    const rows = await redisCpu(redis.port, (port) => new Redis(port, '127.0.0.1'), {
      calls: number(values.calls, 2_000),
      rounds: number(values.rounds, 5),
      callgrind: values.callgrind,
    });
    console.log(`${runContext(command)}\n\n${redisCpuMarkdown(rows)}`);
  } else if (values.soak) {
    const { soak, soakMarkdown } = await import('./soak.js');
    const result = await soak(redis, number(values.requests, 1_000_000), connections, log);
    const markdown = soakMarkdown(result, runContext(command));
    if (record) writeSection('soak', markdown);
    console.log(markdown);
  } else {
    const profileDir = new URL('./.tmp/profiles/', import.meta.url).pathname;
    if (values['cpu-prof']) mkdirSync(profileDir, { recursive: true });
    const options: CompareOptions = {
      connections,
      duration: number(values.duration, values.quick ? 0.5 : 1.5),
      rounds: number(values.rounds, values.quick ? 1 : 4),
      warmup: values.quick ? 0.3 : 1,
      runWarmup: values.quick ? 0.2 : 0.5,
      serverNodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      only: values.only?.split(',') ?? [],
    };
    const { compare } = await import('./compare.js');
    const rows = await compare(redis, options, log);
    const method =
      `Each server runs in its own process (forked; the load generator, autocannon, runs in this one, and ` +
      `redis-server in a third), unpinned on the shared cores (pinning the server under test to a CPU of its own ` +
      `was tried and measured worse: identical code paths then differed by up to 20% in CPU per request). ` +
      `${options.connections} connections, each a client ` +
      `with its own session (started through the router before measuring) and sending its cookie, except for ` +
      `"new session", which sends none. ${options.rounds} rounds of ${options.duration} s per scenario and server, ` +
      `after ${options.warmup} s of warm-up each, and each measured run after ${options.runWarmup} s of the same load unmeasured. In each round and scenario every server of an adapter, its no-session ` +
      `baseline among them, runs once, in an order turning each round, so all wait as long between runs. The first table ` +
      `divides each server's best run by the baseline's best run: what else runs on a shared machine can only slow a run ` +
      `down, so the best run is the closest to what a server can do. "no session again (A/A)" is the baseline's own code ` +
      `in a second process: how far from 1 noise alone moves a ratio in this run. A target whose measured ratio is nearer ` +
      `the bar than the control's farthest from 1 (over every scenario and adapter) is reported as within this run's ` +
      `noise rather than met or missed. The second table divides each run by the baseline's run of the same round and takes the median over rounds. req/s and server CPU ` +
      `per request are over all rounds, latency the mean of the rounds' percentiles. Redis commands from INFO commandstats before and after each run; "in scripts" ` +
      `are the commands MONITOR saw coming from Lua (counted once per name, on a few calls before measuring). ` +
      `"Redis round trips only (floor)" is not a session library: each call makes the round trips a Redis session needs ` +
      `(GET; GET then SET; SET) over ioredis and nothing else, so it shows what the round trips alone cost on this machine.`;
    const comparison = comparisonMarkdown(rows, runContext(command), method);
    if (record) {
      writeSection('comparison', comparison);
      writeSection('micro', micro!);
    }
    console.log(`${comparison}\n\n${micro}`);
  }
} finally {
  await redis.stop(true);
}
