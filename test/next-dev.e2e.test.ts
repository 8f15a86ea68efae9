import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { installPackedLibrary, ROOT } from './helpers/packed-library.js';
import { freePort, startRedis, type RedisServer } from './helpers/redis-server.js';

/**
 * examples/next under `next dev`, edited as a developer edits it: the manager kept on globalThis follows an
 * edit of its options, and closes the connection of the one it replaces. A copy of the app in test-artifacts/.
 */

const APP = join(ROOT, 'test-artifacts', 'next-dev');
const SESSIONS = join(APP, 'server', 'sessions.ts');
const EDITS = 15;

let redis: RedisServer;
let inspect: Redis;
let dev: ChildProcess;
let url: string;
const output: string[] = [];

beforeAll(async () => {
  rmSync(APP, { recursive: true, force: true });
  cpSync(join(ROOT, 'examples', 'next'), APP, { recursive: true, filter: (path) => !/[\\/](node_modules|\.next|next-env\.d\.ts)$/.test(path) });
  redis = await startRedis();
  inspect = redis.client({ connectionName: 'inspect' });
  await installPackedLibrary(APP);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dev = spawn(join(ROOT, 'node_modules', '.bin', 'next'), ['dev', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: APP,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', REDIS_URL: redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: dev.stderr! }).on('line', (line) => output.push(line));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: dev.stdout! }).on('line', (line) => {
      output.push(line);
      if (/Ready/.test(line)) resolve();
    });
    dev.once('exit', (code) => reject(new Error(`next dev exited with ${code}:\n${output.join('\n')}`)));
  });
}, 240_000);

afterAll(async () => {
  if (dev && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev.once('exit', resolve));
    dev.kill('SIGTERM');
    await exited;
  }
  inspect?.disconnect();
  await redis?.stop(true);
});

/** The name of the cookie the route handler sets when it starts a session (a batch that is not streamed). */
async function cookieName(): Promise<string | undefined> {
  const response = await fetch(`${url}/api/trpc/add?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ 0: { json: 'beans' } }),
  });
  await response.arrayBuffer();
  return response.headers.getSetCookie()[0]?.split('=')[0];
}

const appClients = async () =>
  ((await inspect.client('LIST')) as string).split('\n').filter((line) => line.includes(' cmd=') && !line.includes(' name=inspect ')).length;

test(`${EDITS} edits of the cookie name under next dev: each takes effect, and one Redis connection remains`, async () => {
  await expect.poll(cookieName, { timeout: 120_000, interval: 500 }).toBe('basket_sid');
  expect(await appClients()).toBe(1);
  const source = readFileSync(SESSIONS, 'utf8');
  for (let edit = 1; edit <= EDITS; edit++) {
    writeFileSync(SESSIONS, source.replace("name: 'basket_sid'", `name: 'basket_sid_${edit}'`));
    await expect.poll(cookieName, { timeout: 60_000, interval: 250 }).toBe(`basket_sid_${edit}`);
  }
  await expect.poll(appClients, { timeout: 10_000 }).toBe(1);
}, 900_000);
