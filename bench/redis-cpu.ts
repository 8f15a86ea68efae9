import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import * as z from 'zod';
import { createSessionManager, redisStore, type Session } from '../src/index.js';
import type { SessionHandle } from '../src/session-api.js';
import { observeSources } from './redis-commands.js';
import { table } from './results-file.js';

/** Redis's own CPU for one call, from `INFO commandstats`: microseconds and commands sent, by operation. */
export interface RedisCpuRow {
  name: string;
  usecPerCall: number;
  /** The server's whole CPU (`INFO cpu`, user and system) per call: with parsing, replies and the event loop. */
  cpuUsecPerCall: number;
  commandsPerCall: number;
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
const CALLS = 2_000;

/**
 * Redis's CPU per call of `operation`, over `CALLS` calls: the microseconds `INFO commandstats` gives the commands
 * a client sent (a script's own commands are inside its EVALSHA's time, so they are not added again).
 */
async function measure(admin: Redis, port: number, name: string, operation: () => Promise<void>): Promise<RedisCpuRow> {
  const sources = await observeSources(port, async () => {
    for (let index = 0; index < 3; index++) await operation();
  });
  await admin.config('RESETSTAT');
  const cpuBefore = await serverCpu(admin);
  for (let index = 0; index < CALLS; index++) await operation();
  const cpu = (await serverCpu(admin)) - cpuBefore;
  let usec = 0;
  let calls = 0;
  for (const [command, stats] of commandUsec(await admin.info('commandstats'))) {
    if (OWN_COMMANDS.has(command) || (sources.script.has(command) && !sources.client.has(command))) continue;
    usec += stats.usec;
    calls += stats.calls;
  }
  return { name, usecPerCall: usec / CALLS, cpuUsecPerCall: cpu / CALLS, commandsPerCall: calls / CALLS };
}

/**
 * Read, write, new session and regenerate on the Redis store (each a request cycle as in the micro-benchmarks,
 * one counter field), beside the floor: a raw GET, a GET then a SET, and a SET, over the same client.
 */
export async function redisCpu(port: number, connect: (port: number) => Redis): Promise<RedisCpuRow[]> {
  const client = connect(port);
  const admin = connect(port);
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
  await client.set('floor', '1'.padEnd(96, ' '));
  const rows: RedisCpuRow[] = [
    await measure(admin, port, 'read a counter', () => cycle(cookie, (session) => void session.data.get('counter'))),
    await measure(admin, port, 'read and write it', () => cycle(cookie, (session) => session.data.put('counter', session.data.get('counter') + 1))),
    await measure(admin, port, 'new session', () => cycle(undefined, (session) => session.data.put('counter', 1))),
    await measure(admin, port, 'regenerate', () => cycle(cookie, (_, handle) => handle.regenerate())),
    await measure(admin, port, 'floor: GET', async () => void (await client.get('floor'))),
    await measure(admin, port, 'floor: GET then SET', async () => {
      const value = Number(await client.get('floor'));
      await client.set('floor', String(value + 1).padEnd(96, ' '));
    }),
    await measure(admin, port, 'floor: SET', async () => void (await client.set('floor', '1'.padEnd(96, ' ')))),
  ];
  client.disconnect();
  admin.disconnect();
  return rows;
}

export function redisCpuMarkdown(rows: readonly RedisCpuRow[]): string {
  const floorName: Record<string, string> = { 'read a counter': 'GET', 'read and write it': 'GET then SET', 'new session': 'SET', regenerate: 'GET then SET' };
  const floor = (row: RedisCpuRow) => rows.find((other) => other.name === `floor: ${floorName[row.name]}`);
  const ratio = (value: number, of: number | undefined) => (of === undefined ? '' : (value / of).toFixed(2));
  return table(
    ['operation (Redis store, one counter field)', 'commands sent per call', 'commandstats µs per call', '÷ floor', 'server CPU µs per call (INFO cpu)', '÷ floor', 'floor'],
    rows.map((row) => [
      row.name,
      row.commandsPerCall.toFixed(2),
      row.usecPerCall.toFixed(2),
      ratio(row.usecPerCall, floor(row)?.usecPerCall),
      row.cpuUsecPerCall.toFixed(1),
      ratio(row.cpuUsecPerCall, floor(row)?.cpuUsecPerCall),
      floorName[row.name] ?? '',
    ]),
  );
}
