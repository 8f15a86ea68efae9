/**
 * The soak: a long run of mixed traffic against trpc-session on Redis, sampling the server's heap (after a full
 * collection) every tenth of the way, to see whether it stays flat.
 */
import type { RedisServer } from '../test/helpers/redis-server.js';
import { runLoad } from './load.js';
import { table } from './results-file.js';
import { createSessionPool, recordRequest, SCENARIOS } from './scenarios.js';
import { startServer } from './server-process.js';

export interface SoakResult {
  requests: number;
  seconds: number;
  failures: number;
  /** Heap used after each chunk, in bytes; the first is after the warm-up. */
  samples: { after: number; heapUsed: number }[];
}

/** Growth from the second sample (the heap has found its working size by then) to the last one. */
export const SOAK_TOLERANCE_BYTES = 2 * 1024 * 1024;

export async function soak(redis: RedisServer, total: number, connections: number, log: (line: string) => void): Promise<SoakResult> {
  const server = await startServer({ adapter: 'standalone', variant: 'trpc-session redis', redisUrl: redis.url, autoPipelining: false });
  try {
    const origin = new URL(server.url).origin;
    const requests = [];
    for (const scenario of SCENARIOS) requests.push({ ...(await recordRequest(server.url, scenario)), withCookie: scenario.withCookie });
    const cookies = await createSessionPool(server.url, connections);
    await runLoad(origin, requests, cookies, { connections, duration: 2 });
    const result: SoakResult = { requests: 0, seconds: 0, failures: 0, samples: [{ after: 0, heapUsed: await server.heapUsed() }] };
    const chunk = Math.ceil(total / 10);
    while (result.requests < total) {
      const run = await runLoad(origin, requests, cookies, { connections, duration: 0, amount: Math.min(chunk, total - result.requests) });
      result.requests += run.requests;
      result.seconds += run.seconds;
      result.failures += run.failures;
      result.samples.push({ after: result.requests, heapUsed: await server.heapUsed() });
      log(`soak: ${result.requests} requests, heap ${(result.samples.at(-1)!.heapUsed / 1048576).toFixed(1)} MiB`);
    }
    return result;
  } finally {
    await server.stop();
  }
}

export function soakMarkdown(result: SoakResult, context: string): string {
  const mib = (bytes: number) => (bytes / 1048576).toFixed(2);
  const reference = result.samples[1]?.heapUsed ?? result.samples[0]!.heapUsed;
  const growth = result.samples.at(-1)!.heapUsed - reference;
  const flat = growth < SOAK_TOLERANCE_BYTES;
  return [
    '## Soak',
    context,
    `Mixed traffic (every scenario in turn on each connection: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}) against ` +
      `trpc-session on Redis, standalone adapter. Heap used by the server after a full GC, sampled after each tenth.`,
    table(
      ['requests', 'heap used MiB'],
      result.samples.map((sample) => [String(sample.after), mib(sample.heapUsed)]),
    ),
    `${result.requests} requests in ${result.seconds.toFixed(0)} s, ${result.failures} failures. ` +
      `Growth from the first tenth to the end: ${mib(growth)} MiB → **${flat ? 'flat' : 'NOT flat'}** ` +
      `(tolerance ${mib(SOAK_TOLERANCE_BYTES)} MiB).`,
  ].join('\n\n');
}
