import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import * as z from 'zod';
import { createSessionManager, redisStore, type Session } from '../src/index.js';
import type { SessionHandle } from '../src/session-api.js';
import { freePort, waitForPing } from '../test/helpers/redis-server.js';
import { observeCommands } from './redis-commands.js';
import { table } from './results-file.js';

/** A command run inside a script, per call of the operation. */
export interface InnerCommand {
  command: string;
  calls: number;
  usec: number;
}

/** Redis's own CPU for one call of an operation, the median over rounds. */
export interface RedisCpuRow {
  name: string;
  /** `INFO commandstats` µs of the commands a client sent (an EVALSHA's time holds its script's commands). */
  usecPerCall: number;
  /** The server's whole CPU (`INFO cpu`, user and system) per call: with parsing, replies and the event loop. */
  cpuUsecPerCall: number;
  /** The instructions redis-server ran per call, counted by callgrind (`--callgrind`): repeatable, unlike the times. */
  instructionsPerCall?: number;
  /** Commands sent per call, by name. */
  sent: Record<string, number>;
  /** The commands scripts ran, per call (already inside their EVALSHA's µs). */
  inner: InnerCommand[];
}

/** The server's CPU time so far, in microseconds, from `INFO cpu`. */
async function serverCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/** Microseconds and calls by command name (lower case), from `INFO commandstats`. */
export function commandUsec(info: string): Map<string, { calls: number; usec: number }> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) stats.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  return stats;
}

const OWN_COMMANDS = new Set(['info', 'config|resetstat', 'ping', 'monitor', 'select', 'client|setinfo', 'client|setname', 'hello']);

interface Sample {
  usec: number;
  cpu: number;
  sent: Record<string, number>;
  inner: InnerCommand[];
}

/**
 * One round of `calls` calls of `operation`. Which commands a client sent and which a script ran is learned
 * first from MONITOR on a few calls (it tags a script's commands `lua`); `INFO commandstats` counts both alike
 * under one name, so a name seen from both (HGETALL: the load's and the move's) has its µs shared in that
 * proportion, and only the sent share is added: the script's is inside its EVALSHA's.
 */
async function sample(admin: Redis, port: number, calls: number, operation: () => Promise<void>): Promise<Sample> {
  const observed = 3;
  const seen = await observeCommands(port, async () => {
    for (let index = 0; index < observed; index++) await operation();
  });
  await admin.config('RESETSTAT');
  const cpuBefore = await serverCpu(admin);
  for (let index = 0; index < calls; index++) await operation();
  const cpu = (await serverCpu(admin)) - cpuBefore;
  const stats = commandUsec(await admin.info('commandstats'));
  const scripted = (seen.client['evalsha'] ?? 0) + (seen.client['eval'] ?? 0) > 0;
  let usec = 0;
  const sent: Record<string, number> = {};
  const inner: InnerCommand[] = [];
  for (const [command, { calls: total, usec: spent }] of stats) {
    if (OWN_COMMANDS.has(command)) continue;
    const fromClient = seen.client[command] ?? 0;
    const fromScript = seen.script[command] ?? 0;
    // Seen from neither in the few calls observed (a script's rarer branch, such as measuring the whole record
    // when a write grows it): inside a script if the operation runs one, else sent.
    const share = fromClient + fromScript > 0 ? fromClient / (fromClient + fromScript) : scripted ? 0 : 1;
    usec += spent * share;
    if (share > 0) sent[command] = (total * share) / calls;
    if (share < 1) inner.push({ command, calls: (total * (1 - share)) / calls, usec: (spent * (1 - share)) / calls });
  }
  return { usec: usec / calls, cpu: cpu / calls, sent, inner };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The names of the rows, and the floor each library row is compared with. */
export const REDIS_CPU_FLOORS: Record<string, string> = {
  'read a counter': 'floor: GET',
  'read and write it': 'floor: GET then SET',
  'new session': 'floor: SET',
  regenerate: 'floor: GET then SET',
};

export interface RedisCpuOptions {
  /** Calls per operation and round. */
  calls: number;
  /** Rounds; in each, every operation runs once, in an order turning each round. */
  rounds: number;
  /** Also count redis-server's instructions per call, on a second redis-server run under callgrind. */
  callgrind?: boolean;
}

/**
 * Read, write, new session and regenerate on the Redis store (each a request cycle as in the micro-benchmarks,
 * one counter field), beside the floor: a raw GET, a GET then a SET, and a SET, over the same client. Each row is
 * the median over rounds.
 */
type Operation = [name: string, run: () => Promise<void>];

/** The rows' operations over `client`: request cycles of a manager on the Redis store, and the floor's commands. */
async function operations(client: Redis): Promise<Operation[]> {
  const schema = z.object({ counter: z.number().int().default(0) });
  const sessions = createSessionManager({ schema, store: redisStore({ redis: client }), onError: (error) => console.error(error) });
  let cookie: string | undefined;
  const cycle = async (sent: string | undefined, work: (session: Session<typeof schema>, handle: SessionHandle<typeof schema>) => Promise<unknown> | void) => {
    const req = new IncomingMessage(new Socket());
    req.headers = sent === undefined ? {} : { cookie: sent };
    const res = new ServerResponse(req);
    const { session } = sessions.createContext({ req, res });
    await work(await session.start(), session);
    // The write before the end of the call, so that the next call finds it.
    await session.persist();
    const setCookie = res.getHeader('set-cookie');
    if (setCookie !== undefined) cookie = String(setCookie).split(';')[0]!;
  };
  await cycle(undefined, (session) => session.data.put('counter', 1));
  // A value of about the size of the session's record, so the floor reads and writes as many bytes.
  const floorValue = (value: number) => String(value).padEnd(96, ' ');
  await client.set('floor', floorValue(1));
  // A new session's cycle leaves the cookie of the session it made: the next rows read and write that one.
  return [
    ['read a counter', () => cycle(cookie, (session) => void session.data.get('counter'))],
    ['read and write it', () => cycle(cookie, (session) => session.data.put('counter', session.data.get('counter') + 1))],
    ['new session', () => cycle(undefined, (session) => session.data.put('counter', 1))],
    ['regenerate', () => cycle(cookie, (_, handle) => handle.regenerate())],
    ['floor: GET', async () => void (await client.get('floor'))],
    [
      'floor: GET then SET',
      async () => {
        const value = Number(await client.get('floor'));
        await client.set('floor', floorValue(value + 1));
      },
    ],
    ['floor: SET', async () => void (await client.set('floor', floorValue(1)))],
  ];
}

/**
 * redis-server's instructions per call of each operation, on a redis-server of its own run under callgrind:
 * counters dumped (and zeroed) before and after each row's calls, after a few calls unmeasured.
 */
async function redisInstructions(connect: (port: number) => Redis, calls: number): Promise<Map<string, number>> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trpc-session-redis-callgrind-'));
  const server = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dir}/out`, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const counts = new Map<string, number>();
  try {
    await waitForPing(port, server);
    const client = connect(port);
    try {
      let dumps = 0;
      /** Instructions since the last dump: callgrind_control writes the counters to `out.N` and zeroes them. */
      const dump = () => {
        execFileSync('callgrind_control', ['--dump', String(server.pid)], { stdio: 'ignore' });
        dumps++;
        const file = readdirSync(dir).find((name) => name === `out.${dumps}`);
        if (file === undefined) throw new Error(`callgrind wrote no dump ${dumps} in ${dir}`);
        return Number(/^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? Number.NaN);
      };
      for (const [name, operation] of await operations(client)) {
        for (let index = 0; index < 20; index++) await operation();
        dump();
        for (let index = 0; index < calls; index++) await operation();
        counts.set(name, dump() / calls);
      }
    } finally {
      client.disconnect();
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return counts;
}

/**
 * Read, write, new session and regenerate on the Redis store (each a request cycle as in the micro-benchmarks,
 * one counter field), beside the floor: a raw GET, a GET then a SET, and a SET, over the same client. Each row is
 * the median over rounds.
 */
export async function redisCpu(port: number, connect: (port: number) => Redis, options: RedisCpuOptions): Promise<RedisCpuRow[]> {
  const client = connect(port);
  const admin = connect(port);
  const rows = await operations(client);
  const samples = new Map<string, Sample[]>(rows.map(([name]) => [name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let at = 0; at < rows.length; at++) {
      const [name, operation] = rows[(at + round) % rows.length]!;
      samples.get(name)!.push(await sample(admin, port, options.calls, operation));
    }
  }
  client.disconnect();
  admin.disconnect();
  const instructions = options.callgrind ? await redisInstructions(connect, Math.min(options.calls, 1_000)) : undefined;
  return rows.map(([name]) => {
    const taken = samples.get(name)!;
    const last = taken.at(-1)!;
    return {
      name,
      usecPerCall: median(taken.map((one) => one.usec)),
      cpuUsecPerCall: median(taken.map((one) => one.cpu)),
      ...(instructions === undefined ? {} : { instructionsPerCall: instructions.get(name)! }),
      sent: last.sent,
      inner: last.inner,
    };
  });
}

const perCall = (calls: number) => (Number.isInteger(calls) ? String(calls) : calls.toFixed(2));
const listed = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, calls]) => (calls === 1 ? name.toUpperCase() : `${name.toUpperCase()} ×${perCall(calls)}`))
    .join(', ');

/** The table of `npm run bench -- --redis-cpu`. */
export function redisCpuMarkdown(rows: readonly RedisCpuRow[]): string {
  const floor = (row: RedisCpuRow) => rows.find((other) => other.name === REDIS_CPU_FLOORS[row.name]);
  const ratio = (value: number | undefined, of: number | undefined) => (value === undefined || of === undefined ? '' : (value / of).toFixed(2));
  const counted = rows.every((row) => row.instructionsPerCall !== undefined);
  return table(
    [
      'operation (Redis store, one counter field)',
      'commands sent per call',
      'commandstats µs per call',
      '÷ floor',
      'server CPU µs per call (INFO cpu)',
      '÷ floor',
      ...(counted ? ['redis-server instructions per call (callgrind)', '÷ floor'] : []),
      'floor',
      'inside the scripts, per call (commandstats µs)',
    ],
    rows.map((row) => [
      row.name,
      `${perCall(Object.values(row.sent).reduce((sum, calls) => sum + calls, 0))} (${listed(row.sent)})`,
      row.usecPerCall.toFixed(2),
      ratio(row.usecPerCall, floor(row)?.usecPerCall),
      row.cpuUsecPerCall.toFixed(1),
      ratio(row.cpuUsecPerCall, floor(row)?.cpuUsecPerCall),
      ...(counted ? [Math.round(row.instructionsPerCall!).toLocaleString('en-US'), ratio(row.instructionsPerCall, floor(row)?.instructionsPerCall)] : []),
      REDIS_CPU_FLOORS[row.name]?.slice('floor: '.length) ?? '',
      row.inner.length === 0
        ? ''
        : `${perCall(row.inner.reduce((sum, one) => sum + one.calls, 0))}: ${row.inner
            .sort((a, b) => a.command.localeCompare(b.command))
            .map((one) => `${one.command.toUpperCase()}${one.calls === 1 ? '' : ` ×${perCall(one.calls)}`} ${one.usec.toFixed(2)}`)
            .join(', ')}`,
    ]),
  );
}
