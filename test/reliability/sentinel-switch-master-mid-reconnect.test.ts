import { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createRedisConnections, SessionStoreRecoveredError, type RedisClient, type RedisStoreOptions } from '../../src/index.js';
import type { TestRouter } from '../helpers/app.js';
import { eventually, serveRedisStore } from '../helpers/fixture.js';
import { browser } from '../helpers/http.js';
import { withClient } from '../helpers/redis-process.js';
import { startRedisSentinel, type RedisSentinel } from '../helpers/redis-sentinel.js';

/**
 * ioredis's failoverDetector acts on +switch-master by stopping the client's connector, as `disconnect()` does.
 * A client that lost its master is then between reconnection attempts or in one, asking a sentinel for the
 * master; in one, the attempt fails with "Connection is closed." and ioredis ends the client for good. Seen as
 * 1 run in 20 of test/redis-sentinel.e2e.test.ts, where the sentinels answer in a few ms; here the sentinel the
 * client asks first is paused through the failover, so the announcement always comes during the attempt. A
 * fresh deployment for each test, since each kills its master.
 */
let deployment: RedisSentinel;
beforeEach(async () => {
  deployment = await startRedisSentinel({ replicas: 1, sentinels: 3 });
}, 60_000);
afterEach(() => deployment?.stop());

/** Generous for a loaded 2-core machine; the client that ended never answered again. */
const RECOVERY_BOUND_MS = 20_000;

/** Whether any client of the sentinel on `port` is subscribed: only a failoverDetector subscribes to a sentinel. */
const hasSubscriber = (port: number) => withClient(port, async (redis) => / sub=[1-9]/.test((await redis.call('CLIENT', 'LIST')) as string));

/** Crashes the master while the client asks a paused sentinel for it, then checks that the app recovers. */
async function crashMasterWhileAskingASentinel(redis: RedisStoreOptions['redis'], connection: () => Promise<RedisClient>) {
  const app = await serveRedisStore(redis);
  const [asked, ...others] = deployment.sentinelProcesses;
  try {
    const { client } = browser<TestRouter>(app.url);
    expect(await client.increment.mutate()).toBe(1);
    const { id } = await client.read.query();
    await eventually(async () => {
      for (const sentinel of others) expect(await hasSubscriber(sentinel.port)).toBe(true);
    }, 5000);
    await deployment.waitForReplication();

    // The client asks the sentinels in their order, from the one that named the master last: the first.
    asked!.pause();
    const old = await deployment.masterPort();
    await deployment.servers.find((server) => server.port === old)!.kill();
    await deployment.waitForFailover(old);
    // The detector drops its subscriptions when it acts, while the client's attempt still waits for an answer.
    await eventually(async () => {
      for (const sentinel of others) expect(await hasSubscriber(sentinel.port)).toBe(false);
    }, 5000);
    expect((await connection()).status).toBe('connecting');
    asked!.resume();

    await eventually(async () => {
      expect(await client.increment.mutate()).toBeGreaterThanOrEqual(2);
    }, RECOVERY_BOUND_MS);
    expect((await client.read.query()).id).toBe(id);
    await eventually(() => expect(app.errors.some((error) => error instanceof SessionStoreRecoveredError)).toBe(true));
  } finally {
    asked!.resume();
    await app.close();
  }
}

test('a +switch-master during a reconnection attempt leaves a client createRedisConnections built connecting to the new master', async () => {
  const connections = createRedisConnections({
    sessions: { sentinels: deployment.sentinels, name: deployment.name, failoverDetector: true },
  });
  try {
    await crashMasterWhileAskingASentinel(connections.use('sessions'), () => connections.get('sessions'));
  } finally {
    await connections.close();
  }
}, 90_000);

test("a +switch-master during a reconnection attempt leaves a client from the store's factory connecting to the new master", async () => {
  let made: Redis | undefined;
  const factory = () => (made = new Redis({ sentinels: deployment.sentinels, name: deployment.name, failoverDetector: true }));
  await crashMasterWhileAskingASentinel(factory, async () => made!);
}, 90_000);
