import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, redisStore, type SessionError, type SessionStore } from '../src/index.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { startRedisSentinel } from './helpers/redis-sentinel.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const schema = z.object({ visits: z.number().default(0) });

function manager(store: SessionStore, healthTimeout = 300) {
  const errors: SessionError[] = [];
  return { sessions: createSessionManager({ schema, store, healthTimeout, onError: (error) => errors.push(error) }), errors };
}

describe('sessions.health() on a single Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop(true));

  test('answers ok without creating a session or writing anything; paused or stopped, it answers not ok within healthTimeout', async () => {
    const client = redis.client({ maxRetriesPerRequest: 1 });
    const inspect = redis.client();
    const { sessions } = manager(redisStore({ redis: client, commandTimeout: 5_000 }));
    try {
      await redis.resetStats();
      for (let round = 0; round < 20; round++) expect(await sessions.health()).toMatchObject({ ok: true });
      expect(await inspect.dbsize()).toBe(0);
      const commands = await redis.commandStats();
      // The connection's own handshake (ioredis 6 sends HELLO) besides the probes.
      expect(Object.keys(commands).filter((command) => !['ping', 'info', 'config|resetstat', 'config', 'dbsize', 'client|setinfo', 'client', 'hello'].includes(command))).toEqual([]);
      expect(commands.ping).toBe(20);

      // Paused for longer than the store's commandTimeout: health() is bounded by its own healthTimeout.
      await inspect.call('CLIENT', 'PAUSE', '3000', 'ALL');
      expect(await sessions.health()).toEqual({ ok: false, reason: 'no answer within 300 ms' });
      await inspect.call('CLIENT', 'UNPAUSE');
      expect(await sessions.health()).toMatchObject({ ok: true });

      await redis.stop(true);
      const down = await sessions.health();
      expect(down.ok).toBe(false);
      expect(down.ok === false && down.reason).toMatch(/refused|not connected|no answer|closed|reset/);
    } finally {
      await redis.start();
      client.disconnect();
      inspect.disconnect();
    }
  }, 30_000);
});

test('sessions.health() on the memory store answers ok and creates nothing', async () => {
  const store = memoryStore();
  const { sessions } = manager(store);
  expect(await sessions.health()).toMatchObject({ ok: true });
  expect(await sessions.userSessions('nobody')).toEqual([]);
});

test('healthTimeout is checked at start-up', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '1000']) {
    expect(() => createSessionManager({ schema, store: memoryStore(), healthTimeout: bad as number })).toThrow(/`?healthTimeout`?/);
    expect(() => createSessionManager({ schema, store: memoryStore(), healthTimeout: bad as number })).toThrow(TypeError);
  }
});

test('sessions.health() on a Redis Cluster pings every master: one frozen master makes it not ok', async () => {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  const client = cluster.client();
  const { sessions } = manager(redisStore({ redis: client, commandTimeout: 5_000 }), 500);
  try {
    expect(await sessions.health()).toMatchObject({ ok: true });
    const masters = client.nodes('master');
    expect(masters).toHaveLength(3);
    const frozen = cluster.nodes.find((node) => node.port === masters[2]!.options.port)!;
    frozen.pause();
    try {
      expect(await sessions.health()).toEqual({ ok: false, reason: 'no answer within 500 ms' });
    } finally {
      frozen.resume();
    }
    expect(await sessions.health()).toMatchObject({ ok: true });
    for (const node of masters) expect(await node.dbsize()).toBe(0);
  } finally {
    client.disconnect();
    await cluster.stop();
  }
}, 90_000);

test('sessions.health() over Sentinel asks the master: a frozen master makes it not ok, and it recovers', async () => {
  const deployment = await startRedisSentinel({ replicas: 1, sentinels: 3 });
  const client = new Redis({ sentinels: deployment.sentinels, name: deployment.name, maxRetriesPerRequest: 1 });
  const { sessions } = manager(redisStore({ redis: client, commandTimeout: 5_000 }), 2_000);
  try {
    expect(await sessions.health()).toMatchObject({ ok: true });
    const master = await deployment.masterPort();
    const frozen = deployment.servers.find((server) => server.port === master)!;
    frozen.pause();
    try {
      expect(await sessions.health()).toEqual({ ok: false, reason: 'no answer within 2000 ms' });
    } finally {
      frozen.resume();
    }
    // The sentinels may have failed the frozen master over meanwhile: health() follows whichever is master.
    let answered = await sessions.health();
    for (let attempt = 0; !answered.ok && attempt < 50; attempt++) answered = await sessions.health();
    expect(answered).toMatchObject({ ok: true });
  } finally {
    client.disconnect();
    await deployment.stop();
  }
}, 90_000);
