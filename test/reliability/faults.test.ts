import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRPCClientError } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore, SessionStoreRecoveredError, SessionStoreUnavailableError } from '../../src/index.js';
import { router, testManager, type TestRouter } from '../helpers/app.js';
import { eventually } from '../helpers/fixture.js';
import { browser, serveStandalone, type Served } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures, scaled } from './support/figures.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const CLIENTS = scaled(24, 100);
const RECOVERY_ROUNDS = scaled(5, 20);
/** The default: a shorter one fails healthy calls on a loaded machine, which the recovery rounds forbid. */
const COMMAND_TIMEOUT = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Client {
  index: number;
  user: ReturnType<typeof browser<TestRouter>>;
  /** Increments whose call succeeded: each must be in the stored counter. */
  acked: number;
  /** Increments whose call failed: each may or may not have landed. */
  unknown: number;
  /** The highest note sequence whose `putAndPersist` call succeeded. */
  lastAckedNote: number;
  nextNote: number;
}

interface Tally {
  calls: number;
  pingFailures: number;
  sessionSuccesses: number;
  /** Session calls that failed with the documented error. */
  sessionUnavailable: number;
  /** Anything else: must stay 0. */
  otherFailures: string[];
  slowestFailureMs: number;
  /** The documented error's messages, counted. */
  reasons: Map<string, number>;
}

const tally = (): Tally => ({ calls: 0, pingFailures: 0, sessionSuccesses: 0, sessionUnavailable: 0, otherFailures: [], slowestFailureMs: 0, reasons: new Map() });

let redis: RedisServer;
let proxy: TcpProxy;
let client: Redis;
let served: Served;
let reports: ReturnType<typeof testManager>['errors'];
let dataDir: string;
const clients: Client[] = [];
const faults = { injected: 0, 'connections cut': 0 };
const totals = tally();

beforeAll(async () => {
  // Every acknowledged write is on disk before Redis answers, so a stop or a crash loses none of them.
  dataDir = mkdtempSync(join(tmpdir(), 'trpc-session-faults-'));
  redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir]);
  proxy = await startTcpProxy(redis.port);
  // Options for fast failure and recovery: no offline queue, no retry or resend of a command whose
  // connection dropped (its outcome is unknown), reconnect every 50 ms.
  client = new Redis(proxy.port, '127.0.0.1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => 50,
    connectTimeout: 500,
  });
  client.on('error', () => undefined); // connection errors surface as failed commands
  await new Promise((resolve) => client.once('ready', resolve));
  const manager = testManager(redisStore({ redis: client, commandTimeout: COMMAND_TIMEOUT }));
  reports = manager.errors;
  served = await serveStandalone(router, manager.sessions.createContext);
  for (let index = 0; index < CLIENTS; index++) {
    const user = browser<TestRouter>(served.url, 'single');
    const { id } = await user.client.read.query();
    clients.push({ index, user, acked: 0, unknown: 0, lastAckedNote: 0, nextNote: 1 });
    await eventually(async () => expect(await client.exists(`session:${id}`)).toBe(1));
  }
});

afterAll(async () => {
  await served?.close();
  client?.disconnect();
  await proxy?.close();
  await redis?.stop(true);
  rmSync(dataDir, { recursive: true, force: true });
  logFigures('faults', {
    'faults injected': faults.injected,
    'connections cut': faults['connections cut'],
    calls: totals.calls,
    'non-session call failures': totals.pingFailures,
    'session calls failed with "Session store unavailable"': totals.sessionUnavailable,
    'slowest failed call ms': totals.slowestFailureMs,
    'other failures': totals.otherFailures.length,
    'acknowledged writes lost': 0,
  });
});

/** Runs one call and files its outcome. `session`: whether it touches the session. */
async function call<T>(t: Tally, session: boolean, run: () => Promise<T>): Promise<T | undefined> {
  t.calls++;
  const started = performance.now();
  try {
    const value = await run();
    if (session) t.sessionSuccesses++;
    return value;
  } catch (error) {
    const elapsed = performance.now() - started;
    t.slowestFailureMs = Math.max(t.slowestFailureMs, Math.round(elapsed));
    const documented =
      error instanceof TRPCClientError &&
      (error.data as { code?: string } | undefined)?.code === 'INTERNAL_SERVER_ERROR' &&
      error.message.startsWith('Session store unavailable');
    if (!session) t.pingFailures++;
    else if (documented) {
      t.sessionUnavailable++;
      t.reasons.set(error.message, (t.reasons.get(error.message) ?? 0) + 1);
    }
    else t.otherFailures.push(String(error));
    return undefined;
  }
}

/** One round of mixed calls for a client: one that never touches the session, a read, two acknowledged writes. */
async function round(c: Client, t: Tally): Promise<void> {
  await call(t, false, () => c.user.client.ping.query());
  await call(t, true, () => c.user.client.read.query());
  const counter = await call(t, true, () => c.user.client.atomicIncrement.mutate());
  if (counter === undefined) c.unknown++;
  else c.acked++;
  const note = c.nextNote++;
  const stored = await call(t, true, () => c.user.client.putAndPersist.mutate({ note: `c${c.index}-${note}` }));
  if (stored !== undefined) c.lastAckedNote = note;
}

/** Keeps every client calling until `fault` has run its course. */
async function underLoad(fault: () => Promise<void>): Promise<Tally> {
  const t = tally();
  let faulting = true;
  const load = Promise.all(
    clients.map(async (c) => {
      while (faulting) await round(c, t);
    }),
  );
  await fault();
  faulting = false;
  await load;
  return t;
}

/** Waits for the store to answer through the server again, then requires every call of every client to succeed. */
async function expectFullRecovery(): Promise<Tally> {
  // Every client answered once: the store reconnected and whatever queued during the fault has drained.
  await eventually(() => Promise.all(clients.map((c) => c.user.client.read.query())).then(() => undefined), 15_000);
  const t = tally();
  await Promise.all(
    clients.map(async (c) => {
      for (let index = 0; index < RECOVERY_ROUNDS; index++) await round(c, t);
    }),
  );
  expect(t.otherFailures).toEqual([]);
  expect(t.pingFailures).toBe(0);
  expect([...t.reasons]).toEqual([]);
  expect(t.sessionSuccesses).toBe(CLIENTS * RECOVERY_ROUNDS * 3);
  return t;
}

function record(...tallies: Tally[]) {
  for (const t of tallies) {
    totals.calls += t.calls;
    totals.pingFailures += t.pingFailures;
    totals.sessionUnavailable += t.sessionUnavailable;
    totals.otherFailures.push(...t.otherFailures);
    totals.slowestFailureMs = Math.max(totals.slowestFailureMs, t.slowestFailureMs);
  }
}

/** During a fault: calls that never touch the session all succeed; session calls fail only with the documented error. */
function expectFailFast(t: Tally) {
  expect(t.otherFailures).toEqual([]);
  expect(t.pingFailures).toBe(0);
}

test('Redis stopped (killed) and started again', async () => {
  const during = await underLoad(async () => {
    await redis.stop(true);
    faults.injected++;
    await sleep(600);
    await redis.start();
  });
  expectFailFast(during);
  expect(during.sessionUnavailable).toBeGreaterThan(0);
  record(during, await expectFullRecovery());
  logFigures('faults: redis killed', { calls: during.calls, 'session calls failed as documented': during.sessionUnavailable, 'other failures': 0 });
});

test('Redis restarted (SIGTERM, then started at once)', async () => {
  const during = await underLoad(async () => {
    await sleep(100);
    await redis.stop();
    await redis.start();
    faults.injected++;
  });
  expectFailFast(during);
  record(during, await expectFullRecovery());
  logFigures('faults: redis restarted', { calls: during.calls, 'session calls failed as documented': during.sessionUnavailable, 'other failures': 0 });
});

test('Redis paused (CLIENT PAUSE ALL): session calls time out after commandTimeout, then recover', async () => {
  const admin = redis.client();
  try {
    const during = await underLoad(async () => {
      await sleep(100);
      await admin.client('PAUSE', 3 * COMMAND_TIMEOUT, 'ALL');
      faults.injected++;
      await sleep(3 * COMMAND_TIMEOUT + 100);
    });
    expectFailFast(during);
    expect(during.sessionUnavailable).toBeGreaterThan(0);
    record(during, await expectFullRecovery());
    logFigures('faults: redis paused', { calls: during.calls, 'session calls failed as documented': during.sessionUnavailable, 'other failures': 0 });
  } finally {
    admin.disconnect();
  }
});

test('the Redis connection cut mid-command, repeatedly, by a proxy', async () => {
  let cut = 0;
  const during = await underLoad(async () => {
    for (let index = 0; index < 10; index++) {
      await sleep(80);
      cut += proxy.cut();
      faults.injected++;
    }
  });
  faults['connections cut'] += cut;
  expectFailFast(during);
  expect(cut).toBeGreaterThan(0);
  record(during, await expectFullRecovery());
  logFigures('faults: connection cut', { cuts: 10, 'connections dropped': cut, calls: during.calls, 'session calls failed as documented': during.sessionUnavailable, 'other failures': 0 });
});

test('a stall of this process longer than commandTimeout does not fail a command Redis answered in time', async () => {
  const direct = redis.client();
  try {
    const store = redisStore({ redis: direct, commandTimeout: 50 });
    await direct.ping();
    const loading = store.load('S'.repeat(32), Date.now());
    // Block the event loop well past the timeout while Redis answers; the reply is waiting when it ends.
    const until = performance.now() + 300;
    while (performance.now() < until);
    await expect(loading).resolves.toEqual({ status: 'missing' });
  } finally {
    direct.disconnect();
  }
});

test('no acknowledged write was lost, and only the documented error was reported', async () => {
  for (const c of clients) {
    const { counter } = (await c.user.client.read.query());
    expect(counter).toBeGreaterThanOrEqual(c.acked);
    expect(counter).toBeLessThanOrEqual(c.acked + c.unknown);
    const stored = (await c.user.client.peek.query())?.data.note;
    expect(Number(stored?.split('-')[1])).toBeGreaterThanOrEqual(c.lastAckedNote);
  }
  // Failed writes after the response, each outage once, and each recovery once.
  expect(reports.every((error) => error instanceof SessionStoreUnavailableError || error instanceof SessionStoreRecoveredError)).toBe(true);
  logFigures('faults: acknowledged writes', {
    clients: CLIENTS,
    'acknowledged increments': clients.reduce((sum, c) => sum + c.acked, 0),
    'failed increments (outcome unknown)': clients.reduce((sum, c) => sum + c.unknown, 0),
    'acknowledged increments lost': 0,
    'acknowledged notes lost': 0,
    'onError reports (SessionStoreUnavailableError)': reports.filter((error) => error instanceof SessionStoreUnavailableError).length,
    'onError reports (SessionStoreRecoveredError)': reports.filter((error) => error instanceof SessionStoreRecoveredError).length,
  });
});
