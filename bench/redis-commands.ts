import { connect } from 'node:net';
import type { Redis } from 'ioredis';

/** Commands by name (lower case) and how many times the server executed them. */
export type CommandCounts = Record<string, number>;

/** The benchmark's own bookkeeping, never counted. */
const OWN_COMMANDS = new Set(['info', 'config|resetstat', 'ping', 'monitor', 'select', 'client|setinfo', 'client|setname', 'hello']);

/** Everything the server has executed, script-internal commands included, from `INFO commandstats`. */
export async function commandStats(redis: Redis): Promise<CommandCounts> {
  const info = await redis.info('commandstats');
  const counts: CommandCounts = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

export function difference(after: CommandCounts, before: CommandCounts): CommandCounts {
  const diff: CommandCounts = {};
  for (const [name, calls] of Object.entries(after)) {
    const delta = calls - (before[name] ?? 0);
    if (delta > 0 && !OWN_COMMANDS.has(name)) diff[name] = delta;
  }
  return diff;
}

export function add(into: CommandCounts, counts: CommandCounts): void {
  for (const [name, calls] of Object.entries(counts)) into[name] = (into[name] ?? 0) + calls;
}

export interface CommandSources {
  client: Set<string>;
  script: Set<string>;
}

/** A MONITOR line: `+<time> [<db> <source>] "<command>" ...`, the source being `lua` inside a script. */
const MONITOR_LINE = /^\+\d+\.\d+ \[\d+ (\S+)\] "([^"]+)"/;

/**
 * How many times a client sent each command and how many times a Lua script ran it, learned with `MONITOR`
 * (which tags a script's commands as coming from `lua`) while `traffic` runs. `INFO commandstats` counts both
 * alike, so the measured runs, which cannot afford MONITOR, are split with what this sees. Read from a plain
 * socket: ioredis enters its monitor mode only a promise turn after `+OK`, so a line in the same packet as that
 * `+OK` (any traffic already under way) was taken for a reply to nothing and crashed the run.
 */
export async function observeCommands(port: number, traffic: () => Promise<void>): Promise<{ client: CommandCounts; script: CommandCounts }> {
  const seen = { client: {} as CommandCounts, script: {} as CommandCounts };
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let pending = '';
  let started: () => void;
  let pinged = () => {};
  const monitoring = new Promise<void>((resolve, reject) => {
    started = resolve;
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('the MONITOR connection closed')));
  });
  socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') started();
      const match = MONITOR_LINE.exec(line);
      if (match === null) continue;
      const name = match[2]!.toLowerCase();
      if (name === 'ping') pinged();
      const counts = match[1] === 'lua' ? seen.script : seen.client;
      if (!OWN_COMMANDS.has(name)) counts[name] = (counts[name] ?? 0) + 1;
    }
  });
  socket.write('MONITOR\r\n');
  try {
    await monitoring;
    await traffic();
    // The traffic's last lines may still be on their way: a PING sent now is shown after them.
    const pinger = connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => {
        pinged = resolve;
        pinger.on('error', reject);
        pinger.write('PING\r\n');
      });
    } finally {
      pinger.destroy();
    }
  } finally {
    socket.destroy();
  }
  return seen;
}

/** The command names a client sent and those a script ran while `traffic` runs (see observeCommands). */
export async function observeSources(port: number, traffic: () => Promise<void>): Promise<CommandSources> {
  const { client, script } = await observeCommands(port, traffic);
  return { client: new Set(Object.keys(client)), script: new Set(Object.keys(script)) };
}

/**
 * Splits counts into commands sent by a client (its round trips) and commands run inside scripts. A name
 * seen from both counts as sent, so round trips are never under-counted.
 */
export function splitBySource(counts: CommandCounts, sources: CommandSources): { client: number; internal: number } {
  let client = 0;
  let internal = 0;
  for (const [name, calls] of Object.entries(counts)) {
    if (sources.script.has(name) && !sources.client.has(name)) internal += calls;
    else client += calls;
  }
  return { client, internal };
}
