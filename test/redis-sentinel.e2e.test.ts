import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedisConnections, type RedisConnections } from '../src/index.js';
import type { TestRouter } from './helpers/app.js';
import { expectSurvived, writeThroughFailover } from './helpers/failover.js';
import { eventually, serveRedisStore } from './helpers/fixture.js';
import { browser } from './helpers/http.js';
import { withClient } from './helpers/redis-process.js';
import { startRedisSentinel, type RedisSentinel } from './helpers/redis-sentinel.js';

let deployment: RedisSentinel;
let connections: RedisConnections<'default'>;
let app: Awaited<ReturnType<typeof serveRedisStore>>;
beforeAll(async () => {
  deployment = await startRedisSentinel({ replicas: 1, sentinels: 3 });
  // ioredis asks the sentinels for the master whenever its connection drops; with failoverDetector it also
  // listens for +switch-master, so a switchover moves it at once rather than when the sentinels get round to
  // demoting the old master (which, until then, still takes writes that its demotion will throw away).
  connections = createRedisConnections({
    default: { sentinels: deployment.sentinels, name: deployment.name, failoverDetector: true },
  });
  app = await serveRedisStore(connections.use('default'));
  // Reconnection attempts while the master is down are expected; the session calls report them.
  ((await connections.get('default')) as Redis).on('error', () => {});
}, 60_000);
afterAll(async () => {
  await app?.close();
  await connections?.close();
  await deployment?.stop();
});

/** Whether each session is on the master the sentinels name now. */
async function onCurrentMaster(ids: string[]): Promise<boolean[]> {
  const master = await deployment.masterPort();
  return withClient(master, (redis) => Promise.all(ids.map(async (id) => (await redis.exists(`session:${id}`)) === 1)));
}

test('sessions live on the master the sentinels name', async () => {
  const { client } = browser<TestRouter>(app.url);
  expect(await client.increment.mutate()).toBe(1);
  expect(await client.atomicIncrement.mutate()).toBe(2);
  const { id } = await client.read.query();
  expect(await onCurrentMaster([id])).toEqual([true]);
  expect(app.errors).toEqual([]);
});

/**
 * Subscriptions to the sentinels, all together: what a failoverDetector holds open at each sentinel. Counting
 * every connection also counted the sentinels' links to each other, which they open as they discover their
 * peers, and a client's short-lived connection asking for the master: a count taken while either came or went
 * was off by one.
 */
const sentinelSubscribers = async () => {
  const counts = await Promise.all(
    deployment.sentinels.map(({ port }) =>
      withClient(port, async (redis) => ((await redis.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => / sub=[1-9]/.test(line)).length),
    ),
  );
  return counts.reduce((sum, count) => sum + count, 0);
};

// QUIT ends the connection to the master but not the failoverDetector's subscriptions to every sentinel,
// which kept a process that had closed everything alive (examples/redis-connections.ts never exited).
test('connections.close() also closes the failoverDetector\'s connections to the sentinels', async () => {
  // The file's own client subscribes to every sentinel once connected.
  await eventually(async () => expect(await sentinelSubscribers()).toBe(deployment.sentinels.length), 5000);
  const own = createRedisConnections({ sessions: { sentinels: deployment.sentinels, name: deployment.name, failoverDetector: true } });
  const served = await serveRedisStore(own.use('sessions'));
  try {
    expect(await browser<TestRouter>(served.url).client.increment.mutate()).toBe(1);
    await eventually(async () => expect(await sentinelSubscribers()).toBe(2 * deployment.sentinels.length), 5000);
  } finally {
    await served.close();
    await own.close();
  }
  await eventually(async () => expect(await sentinelSubscribers()).toBe(deployment.sentinels.length), 15_000);
});

test('a switchover (SENTINEL FAILOVER) keeps every session, and the app follows the new master without a restart', async () => {
  const run = await writeThroughFailover(app.url, {
    waitForReplication: () => deployment.waitForReplication(),
    async failOver() {
      const old = await deployment.masterPort();
      await deployment.forceFailover();
      await deployment.waitForFailover(old);
    },
  });
  expectSurvived(run);
  expect(await onCurrentMaster(run.writers.map((writer) => writer.id))).not.toContain(false);
  // The old master rejoins as a replica of the new one, so the deployment can fail over again.
  await deployment.waitForReplication();
}, 90_000);

test('a crashed master (SIGKILL): sessions replicated before the crash survive, and the app recovers without a restart', async () => {
  const run = await writeThroughFailover(app.url, {
    waitForReplication: () => deployment.waitForReplication(),
    async failOver() {
      const old = await deployment.masterPort();
      await deployment.servers.find((server) => server.port === old)!.kill();
      await deployment.waitForFailover(old);
    },
  });
  expectSurvived(run);
  expect(await onCurrentMaster(run.writers.map((writer) => writer.id))).not.toContain(false);
}, 90_000);
