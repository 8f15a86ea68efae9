import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedisConnections } from '../src/index.js';
import type { TestRouter } from './helpers/app.js';
import { expectSurvived, writeThroughFailover } from './helpers/failover.js';
import { serveRedisStore } from './helpers/fixture.js';
import { browser } from './helpers/http.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 60_000);
afterAll(() => cluster?.stop());

test('every session operation works on a 3-master cluster, with sessions spread over the masters', async () => {
  const connections = createRedisConnections({ sessions: { cluster: cluster.startupNodes } });
  const app = await serveRedisStore(connections.use('sessions'));
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

test("per-user sessions on a 3-master cluster: listed, moved by regenerate, dropped by destroy, all revoked", async () => {
  const redis: Cluster = cluster.client();
  const app = await serveRedisStore(redis);
  try {
    const signIn = async () => {
      const { client } = browser<TestRouter>(app.url);
      await client.increment.mutate();
      const ref = await client.signIn.mutate('user-7');
      return { client, ref, id: (await client.read.query()).id };
    };
    const devices = await Promise.all(Array.from({ length: 6 }, signIn));
    // Random IDs: all six land on one master once in 243 runs, so sign in more devices until two masters hold some.
    const masters = new Set(await Promise.all(devices.map(({ id }) => cluster.masterOf(`session:${id}`))));
    while (masters.size < 2 && devices.length < 30) {
      const device = await signIn();
      devices.push(device);
      masters.add(await cluster.masterOf(`session:${device.id}`));
    }
    expect(masters.size).toBeGreaterThan(1);
    const [regenerated, leaving, ...rest] = devices;
    await regenerated!.client.login.mutate('user-7');
    const regeneratedRef = (await regenerated!.client.whoami.query())!.ref;
    await leaving!.client.logout.mutate();

    const listed = await app.sessions.userSessions('user-7');
    expect(listed.map((entry) => entry.ref).sort()).toEqual([regeneratedRef, ...rest.map(({ ref }) => ref)].sort());
    // By the ref listed before its regenerate(): the old ID's moved mark leads to the new ID, in another slot.
    const [revoked, ...others] = rest;
    const revokedNewRef = await revoked!.client.signIn.mutate('user-7');
    expect(revokedNewRef).not.toBe(revoked!.ref);
    expect(await app.sessions.revokeSession('user-7', revoked!.ref)).toBe(true);
    expect(await revoked!.client.whoami.query()).toBeNull();
    expect(await app.sessions.revokeUser('user-7')).toBe(others.length + 1);
    for (const { client } of devices) expect(await client.whoami.query()).toBeNull();
    expect(await app.sessions.userSessions('user-7')).toEqual([]);
    expect(app.errors).toEqual([]);
  } finally {
    await app.close();
    redis.disconnect();
  }
});

test('killing a master: sessions acknowledged and replicated before the kill survive the failover, and the app recovers without a restart', async () => {
  const redis: Cluster = cluster.client();
  const app = await serveRedisStore(redis);
  try {
    const run = await writeThroughFailover(app.url, {
      waitForReplication: () => cluster.waitForReplication(),
      async failOver(sessionKey) {
        const victim = await cluster.masterOf(sessionKey);
        await cluster.nodes.find((node) => node.port === victim)!.kill();
        await cluster.waitForFailover(victim);
      },
    });
    expectSurvived(run);
  } finally {
    await app.close();
    redis.disconnect();
  }
}, 90_000);
