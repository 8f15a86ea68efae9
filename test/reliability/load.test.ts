import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestRouter } from '../helpers/app.js';
import { browser } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures, scaled } from './support/figures.js';

const CLIENTS = 500;
const ROUNDS = scaled(6, 60);
/** Heap the server may keep after the run, over its start: far below what 500 sessions' state would be if retained. */
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;

let redis: RedisServer;
let server: ChildProcess;
let url: string;

/** Asks the server process something over IPC and waits for the answer of that type. */
function ask<T>(question: 'heap' | 'errors'): Promise<T> {
  return new Promise((resolve) => {
    const listen = (message: { type: string } & T) => {
      if (message.type !== question) return;
      server.off('message', listen);
      resolve(message);
    };
    server.on('message', listen);
    server.send(question);
  });
}

beforeAll(async () => {
  redis = await startRedis();
  server = fork(fileURLToPath(new URL('./support/load-server.ts', import.meta.url)), [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, REDIS_PORT: String(redis.port) },
  });
  url = await new Promise<string>((resolve, reject) => {
    server.once('message', (message: { url: string }) => resolve(message.url));
    server.once('exit', (code) => reject(new Error(`the load server exited with ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  if (server.connected) server.send('stop');
  await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(undefined)));
  await redis.stop(true);
});

test(`${CLIENTS} concurrent clients, ${ROUNDS} increments each: no errors, no lost updates, heap back near its start`, async () => {
  // Warm up (code paths, scripts, connection pools), then take the baseline.
  const warm = browser<TestRouter>(url);
  for (let index = 0; index < 20; index++) await warm.client.increment.mutate();
  const before = (await ask<{ used: number }>('heap')).used;

  const failures: string[] = [];
  let calls = 0;
  const counts = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, index) => {
      const user = browser<TestRouter>(url);
      let acked = 0;
      try {
        calls++;
        await user.client.read.query();
        for (let round = 0; round < ROUNDS; round++) {
          calls++;
          // Half plain puts (written after the response), half atomic updates (written at once).
          if ((index + round) % 2 === 0) await user.client.increment.mutate();
          else await user.client.atomicIncrement.mutate();
          acked++;
        }
        calls++;
        const { counter } = await user.client.read.query();
        return { acked, counter };
      } catch (error) {
        failures.push(String(error));
        return { acked, counter: -1 };
      }
    }),
  );
  const lost = counts.filter(({ acked, counter }) => counter !== acked);
  const after = (await ask<{ used: number }>('heap')).used;
  const reported = (await ask<{ names: string[] }>('errors')).names;

  logFigures('load', {
    clients: CLIENTS,
    calls,
    'acknowledged increments': counts.reduce((sum, { acked }) => sum + acked, 0),
    errors: failures.length,
    'onError reports': reported.length,
    'clients with lost updates': lost.length,
    'heap before MB': (before / 2 ** 20).toFixed(1),
    'heap after MB': (after / 2 ** 20).toFixed(1),
  });
  expect(failures.slice(0, 3)).toEqual([]);
  expect(reported).toEqual([]);
  expect(lost).toEqual([]);
  expect(after - before).toBeLessThan(HEAP_SLACK_BYTES);
}, 300_000);
