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

/**
 * Which command names a client sent and which ran inside a Lua script, learned with `MONITOR` (which tags a
 * script's commands as coming from `lua`) while `traffic` runs. `INFO commandstats` counts both alike, so the
 * measured runs, which cannot afford MONITOR, are split with what this sees.
 */
export async function observeSources(monitorClient: Redis, traffic: () => Promise<void>): Promise<CommandSources> {
  const sources: CommandSources = { client: new Set(), script: new Set() };
  const monitor = await monitorClient.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase();
    if (OWN_COMMANDS.has(name)) return;
    (source === 'lua' ? sources.script : sources.client).add(name);
  });
  try {
    await traffic();
  } finally {
    // Lines MONITOR already sent can still arrive while the connection closes, and ioredis then reports them
    // as an error of a connection no longer monitoring. They come after the traffic observed: ignored.
    monitor.on('error', () => {});
    monitor.disconnect();
  }
  return sources;
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
