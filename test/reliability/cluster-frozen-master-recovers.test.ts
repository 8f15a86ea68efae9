import type { Cluster } from 'ioredis';
import { afterEach, beforeEach, expect, test } from 'vitest';
import {
  createRedisConnections,
  SessionStoreRecoveredError,
  SessionStoreUnavailableError,
  type RedisStoreOptions,
} from '../../src/index.js';
import type { TestRouter } from '../helpers/app.js';
import { eventually, serveRedisStore } from '../helpers/fixture.js';
import { browser } from '../helpers/http.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

/**
 * A master that freezes (SIGSTOP: a partition, a host losing power) keeps its TCP connections open, so nothing
 * tells ioredis it is gone: its commands just get no answer, and ioredis reads the slot map again only when a
 * reply says MOVED. Calls for its slots must succeed again soon after a replica takes over, even when they are
 * the only traffic. A fresh cluster for each test, so each failover starts from a healthy cluster.
 */
let cluster: RedisCluster;
beforeEach(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 60_000);
afterEach(() => cluster?.stop());

/** Generous for a loaded 2-core machine; with no slot refresh after timeouts, calls kept failing for 40 s. */
const RECOVERY_BOUND_MS = 20_000;

/** Freezes the master of one session while that session's calls are the only traffic, until they succeed again. */
async function freezeMasterOfOneSession(redis: RedisStoreOptions['redis']) {
  const app = await serveRedisStore(redis);
  const { client } = browser<TestRouter>(app.url);
  let frozen: (typeof cluster.nodes)[number] | undefined;
  let calling = true;
  let loop: Promise<void> | undefined;
  try {
    expect(await client.increment.mutate()).toBe(1);
    const { id } = await client.read.query();
    const victim = await cluster.masterOf(`session:${id}`);
    await cluster.waitForReplication();

    frozen = cluster.nodes.find((node) => node.port === victim)!;
    frozen.pause();
    // Every call is for this session's key, in the frozen master's slots, and fails until recovery.
    loop = (async () => {
      while (calling) await client.increment.mutate().catch(() => new Promise((resolve) => setTimeout(resolve, 50)));
    })();
    await cluster.waitForFailover(victim);
    calling = false;
    await loop;

    await eventually(async () => {
      await client.increment.mutate();
    }, RECOVERY_BOUND_MS);
    expect((await client.read.query()).id).toBe(id);

    // onError heard of the frozen master once, by its address, and of its slots answering again once.
    const address = `127.0.0.1:${victim}`;
    const outages = app.errors.filter((error) => error instanceof SessionStoreUnavailableError && error.reason.endsWith(`(${address})`));
    expect(outages.map((error) => (error as SessionStoreUnavailableError).reason)).toEqual([`no answer within 1000 ms (${address})`]);
    await eventually(() => {
      const recoveries = app.errors.filter((error) => error instanceof SessionStoreRecoveredError && error.address === address);
      expect(recoveries).toHaveLength(1);
    });
  } finally {
    calling = false;
    await loop;
    frozen?.resume();
    await app.close();
  }
}

test("a frozen master's slots answer again soon after its replica takes over, on a Cluster the app passes in", async () => {
  const redis: Cluster = cluster.client();
  try {
    await freezeMasterOfOneSession(redis);
  } finally {
    redis.disconnect();
  }
}, 90_000);

test("a frozen master's slots answer again soon after its replica takes over, on a Cluster createRedisConnections builds", async () => {
  const connections = createRedisConnections({ sessions: { cluster: cluster.startupNodes } });
  try {
    await freezeMasterOfOneSession(connections.use('sessions'));
  } finally {
    await connections.close();
  }
}, 90_000);
