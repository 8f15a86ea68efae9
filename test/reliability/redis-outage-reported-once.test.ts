import { TRPCClientError } from '@trpc/client';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import {
  createRedisConnections,
  SessionStoreRecoveredError,
  SessionStoreUnavailableError,
  type RedisStoreOptions,
  type SessionError,
} from '../../src/index.js';
import type { TestRouter } from '../helpers/app.js';
import { eventually, serveRedisStore } from '../helpers/fixture.js';
import { browser } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * While Redis is down, ioredis retries its connection several times a second; a client without an `error`
 * listener prints `[ioredis] Unhandled error event` for each try. A client the library owns must print
 * nothing, the outage must reach `onError` once (where, and why) and its end once, and each failed call must say
 * why it failed.
 */
let redis: RedisServer;
let printed: string[];
beforeEach(async () => {
  redis = await startRedis();
  printed = [];
  const record = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  vi.spyOn(console, 'error').mockImplementation(record);
  vi.spyOn(console, 'warn').mockImplementation(record);
  const write = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    printed.push(String(chunk));
    return write(chunk, ...(rest as []));
  });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await redis.stop(true);
});

const outages = (errors: SessionError[]) => errors.filter((error) => error instanceof SessionStoreUnavailableError);
const recoveries = (errors: SessionError[]) => errors.filter((error) => error instanceof SessionStoreRecoveredError);

/** Takes Redis down under a store over `store`, calls while it is down, brings it back; what onError heard. */
async function throughAnOutage(store: RedisStoreOptions['redis'], expectedCause: RegExp) {
  const address = `127.0.0.1:${redis.port}`;
  const app = await serveRedisStore(store);
  try {
    const { client } = browser<TestRouter>(app.url, 'single');
    expect(await client.increment.mutate()).toBe(1);
    const idBefore = (await client.read.query()).id;

    await redis.stop(true);
    // Each call waits out the command timeout (1 s), long enough for ioredis to retry its connection many times.
    for (let call = 0; call < 3; call++) {
      const failure = await client.increment.mutate().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TRPCClientError);
      // The client learns nothing of the infrastructure; onError does.
      expect((failure as Error).message).toBe('Session store unavailable');
    }
    await eventually(() => expect(outages(app.errors)).toHaveLength(1));

    await redis.start();
    // The restarted server is empty, so the browser gets a new session.
    await eventually(async () => expect(await client.increment.mutate()).toBe(1), 15_000);
    const idAfter = (await client.read.query()).id;
    await eventually(() => expect(recoveries(app.errors)).toHaveLength(1));

    expect(outages(app.errors)).toHaveLength(1);
    expect((outages(app.errors)[0] as SessionStoreUnavailableError).reason).toMatch(
      new RegExp(`^(connection refused|connection reset|connection closed|not connected|no answer within 1000 ms) \\(${address}\\)$`),
    );
    expect((outages(app.errors)[0] as SessionStoreUnavailableError).reason).toMatch(expectedCause);
    const [recovered] = recoveries(app.errors) as SessionStoreRecoveredError[];
    expect(recovered!.address).toBe(address);
    expect(recovered!.message).toMatch(new RegExp(`^Session store available again \\(${address}\\) after \\d+\\.\\d s$`));
    for (const error of app.errors) {
      expect(error.message).not.toContain(idBefore);
      expect(error.message).not.toContain(idAfter);
      expect(error.cause).toBeUndefined();
    }
    return app.errors;
  } finally {
    await app.close();
  }
}

test('a client from a factory prints nothing while Redis is down; onError hears the outage and the recovery once each', async () => {
  await throughAnOutage(() => new Redis(redis.port, '127.0.0.1'), /^connection refused \(/);
  expect(printed.filter((line) => line.includes('Unhandled error event'))).toEqual([]);
}, 60_000);

test('a createRedisConnections client prints nothing while Redis is down; onError hears the outage and the recovery once each', async () => {
  const connections = createRedisConnections({ sessions: { host: '127.0.0.1', port: redis.port } });
  try {
    await throughAnOutage(connections.use('sessions'), /^connection refused \(/);
  } finally {
    await connections.close();
  }
  expect(printed.filter((line) => line.includes('Unhandled error event'))).toEqual([]);
}, 60_000);

test('a client passed in stays as it was given, and its outage still reaches onError once, with its recovery', async () => {
  const given = new Redis(redis.port, '127.0.0.1');
  const seen: unknown[] = [];
  given.on('error', (error) => seen.push(error));
  try {
    // The store cannot see a client's connection errors without listening to it, so a call says "not connected".
    await throughAnOutage(given, /^not connected \(/);
    expect(given.listenerCount('error')).toBe(1);
    expect(seen.length).toBeGreaterThan(0);
  } finally {
    given.disconnect();
  }
}, 60_000);
