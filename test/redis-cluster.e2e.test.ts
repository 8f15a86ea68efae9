import { TRPCClientError } from '@trpc/client';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedisConnections, redisStore } from '../src/index.js';
import { router, testManager, type TestRouter } from './helpers/app.js';
import { eventually } from './helpers/fixture.js';
import { browser, serveStandalone } from './helpers/http.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 60_000);
afterAll(() => cluster?.stop());

/** The test router over a Redis store, served on loopback; writes land before responses. */
async function serve(redis: Parameters<typeof redisStore>[0]['redis']) {
  const { sessions, errors } = testManager(redisStore({ redis }), { persist: 'before-response' });
  const served = await serveStandalone(router, sessions.createContext);
  return { sessions, errors, url: served.url, close: () => served.close() };
}

test('every session operation works on a 3-master cluster, with sessions spread over the masters', async () => {
  const connections = createRedisConnections({ sessions: { cluster: cluster.startupNodes } });
  const app = await serve(connections.use('sessions'));
  try {
    const browsers = Array.from({ length: 12 }, () => browser<TestRouter>(app.url).client);
    for (const client of browsers) {
      expect(await client.increment.mutate()).toBe(1);
      expect(await client.atomicIncrement.mutate()).toBe(2);
      expect(await client.addToCart.mutate({ productId: 'p1', quantity: 1 })).toHaveLength(1);
    }
    const [first] = browsers;
    const before = (await first!.read.query()).id;
    const after = await first!.login.mutate('user-1');
    expect(after).not.toBe(before);
    expect((await first!.peek.query())?.data).toMatchObject({ userId: 'user-1', counter: 2 });
    await first!.logout.mutate();
    expect(await first!.peek.query()).toBeNull();

    const ids = await Promise.all(browsers.slice(1).map(async (client) => (await client.read.query()).id));
    const masters = new Set(await Promise.all(ids.map((id) => cluster.masterOf(`session:${id}`))));
    expect(masters.size).toBeGreaterThan(1);
    expect(app.errors).toEqual([]);
  } finally {
    await app.close();
    await connections.close();
  }
});

/** One browser's run: its session, the last note the server acknowledged, and whether it wrote after the failover. */
interface Writer {
  client: ReturnType<typeof browser<TestRouter>>['client'];
  id: string;
  acked: number;
  recoveredAfterFailover: boolean;
}

test('killing a master: sessions acknowledged and replicated before the kill survive the failover, and the app recovers without a restart', async () => {
  const redis: Cluster = cluster.client();
  const app = await serve(redis);
  const unexpected: unknown[] = [];
  let failedOver = false;
  let running = true;
  try {
    // A write is acknowledged when putAndPersist answers: persist() waits for Redis and throws when it fails.
    const writers: Writer[] = await Promise.all(
      Array.from({ length: 24 }, async (_, index) => {
        const { client } = browser<TestRouter>(app.url);
        await client.putAndPersist.mutate({ note: `${index}:0` });
        return { client, id: (await client.read.query()).id, acked: 0, recoveredAfterFailover: false };
      }),
    );
    const loops = writers.map(async (writer, index) => {
      for (let sequence = 1; running; sequence++) {
        try {
          await writer.client.putAndPersist.mutate({ note: `${index}:${sequence}` });
          writer.acked = sequence;
          if (failedOver) writer.recoveredAfterFailover = true;
        } catch (error) {
          // During the failover a call fails, within the store's commandTimeout, with the store-unavailable error.
          if (!(error instanceof TRPCClientError && error.message.startsWith('Session store unavailable'))) unexpected.push(error);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });

    // Replication is asynchronous: what survives for sure is what the replicas had acknowledged at the kill.
    await eventually(() => expect(writers.every((writer) => writer.acked >= 2)).toBe(true), 10_000);
    const replicated = writers.map((writer) => writer.acked);
    await cluster.waitForReplication();
    const victim = await cluster.masterOf(`session:${writers[0]!.id}`);
    await cluster.nodes.find((node) => node.port === victim)!.kill();

    await cluster.waitForFailover(victim);
    failedOver = true;
    await eventually(() => expect(writers.filter((writer) => !writer.recoveredAfterFailover)).toEqual([]), 30_000);
    running = false;
    await Promise.all(loops);

    expect(unexpected).toEqual([]);
    for (const [index, writer] of writers.entries()) {
      const session = await writer.client.peek.query();
      expect(session?.id).toBe(writer.id);
      const stored = Number(String(session?.data.note).split(':')[1]);
      expect(stored).toBeGreaterThanOrEqual(replicated[index]!);
    }
    // A session started after the failover is written to the promoted master and read back.
    const { client } = browser<TestRouter>(app.url);
    await client.putAndPersist.mutate({ note: 'after failover' });
    expect((await client.peek.query())?.data.note).toBe('after failover');
  } finally {
    running = false;
    await app.close();
    redis.disconnect();
  }
}, 90_000);
