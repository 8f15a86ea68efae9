import { initTRPC } from '@trpc/server';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createRedisConnections, createSessionManager, redisStore, type SessionContext, type SessionStore } from '../src/index.js';
import type { RedisClient } from '../src/redis-client.js';
import { startCuttingProxy, withCut, type CuttingProxy } from './helpers/cutting-proxy.js';
import { browser, serveStandalone, type Served } from './helpers/http.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/*
 * A command that Redis ran but whose reply was lost is never applied twice nor lost. A proxy between the store's
 * client and Redis forwards one command of the session to Redis, waits for Redis's answer, and cuts the client's
 * connection instead of relaying it (test/helpers/cutting-proxy.ts): ioredis resends the command once reconnected
 * (`autoResendUnfulfilledCommands`, on by default), or, with it off, the store sends it again itself. Each round
 * cuts one command and counts what the client was told against what Redis holds, on a single Redis and on a
 * 3-master Cluster, with ioredis's defaults, the clients `createRedisConnections` builds, and the client options
 * the README recommends.
 */

const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 1500 : 150;

const schema = z.object({ bumps: z.number().int().default(0) });
const flash = z.object({ notice: z.string() });

function resendApp(store: SessionStore) {
  const sessions = createSessionManager({ schema, flash, store, persist: 'before-response', onError: () => undefined });
  const t = initTRPC.context<SessionContext<typeof schema, 'session', typeof flash>>().create();
  const procedure = t.procedure.concat(sessions.procedure);
  const router = t.router({
    init: procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('bumps', 1);
      return session.id;
    }),
    setNotice: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).flash.set('notice', input);
    }),
    takeNotice: procedure.mutation(async ({ ctx }) => (await (await ctx.session.start()).flash.take('notice')) ?? null),
    bump: procedure.mutation(async ({ ctx }) => (await ctx.session.start()).data.update('bumps', (bumps) => bumps + 1)),
    login: procedure.mutation(async ({ ctx }) => (await ctx.session.regenerate()).id),
    peek: procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      return session === null ? null : { id: session.id, bumps: session.data.get('bumps') };
    }),
  });
  return { sessions, router };
}
type ResendRouter = ReturnType<typeof resendApp>['router'];

/** Where a round's client and the test's own look at Redis connect: through the proxy, or straight. */
interface Topology {
  name: string;
  proxy: CuttingProxy;
  /** A client of the kind named, through the proxy. */
  client(kind: ClientKind): { redis: RedisClient | ReturnType<ReturnType<typeof createRedisConnections>['use']>; close(): Promise<void> };
  /** Redis's type for the key (the test's own connection, not through the proxy). */
  keyType(key: string): Promise<string>;
  close(): Promise<void>;
}

type ClientKind = 'ioredis defaults' | 'createRedisConnections' | 'README options';

/** The README's advice for the fastest failure and recovery (Running in production). */
const README_OPTIONS: RedisOptions = {
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: () => 100,
};

async function singleRedis(): Promise<Topology> {
  const redis: RedisServer = await startRedis();
  const proxy = await startCuttingProxy([redis.port]);
  const port = proxy.portOf(redis.port);
  const look = redis.client();
  return {
    name: 'single Redis',
    proxy,
    client(kind) {
      if (kind === 'createRedisConnections') {
        const connections = createRedisConnections({ sessions: { host: '127.0.0.1', port } });
        return { redis: connections.use('sessions'), close: () => connections.close() };
      }
      const client = new Redis({ host: '127.0.0.1', port, ...(kind === 'README options' ? README_OPTIONS : {}) });
      client.on('error', () => undefined); // the cuts
      return { redis: client, close: async () => client.disconnect() };
    },
    keyType: (key) => look.type(key),
    async close() {
      look.disconnect();
      await proxy.close();
      await redis.stop();
    },
  };
}

async function redisCluster(): Promise<Topology> {
  const cluster: RedisCluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  const proxy = await startCuttingProxy(cluster.nodes.map((node) => node.port));
  // The cluster announces its nodes' own ports: the client is sent through the proxy's instead.
  const natMap = Object.fromEntries(cluster.nodes.map((node) => [`127.0.0.1:${node.port}`, { host: '127.0.0.1', port: proxy.portOf(node.port) }]));
  const startupNodes = cluster.nodes.map((node) => ({ host: '127.0.0.1', port: proxy.portOf(node.port) }));
  const look = cluster.client();
  return {
    name: '3-master Cluster',
    proxy,
    client(kind) {
      if (kind === 'createRedisConnections') {
        const connections = createRedisConnections({ sessions: { cluster: startupNodes, natMap } });
        return { redis: connections.use('sessions'), close: () => connections.close() };
      }
      const options: ClusterOptions =
        kind === 'README options'
          ? { natMap, enableAutoPipelining: true, enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false } }
          : { natMap };
      const client = new Cluster(startupNodes, options);
      client.on('error', () => undefined); // the cuts
      return { redis: client, close: async () => client.disconnect() };
    },
    keyType: (key) => look.type(key),
    async close() {
      look.disconnect();
      await proxy.close();
      await cluster.stop();
    },
  };
}

/** What a round ended with; every round must end `ok`. */
interface Outcomes {
  ok: number;
  /** Applied twice: a value taken twice, an increment counted twice, two live records after a move. */
  doubleApplied: number;
  /** Lost: a value taken from the store but returned to no one, an acknowledged increment missing, a session gone. */
  lost: number;
  /** Reported failed to the caller although it was applied. */
  failedButApplied: number;
  /** Reported failed, and not applied (allowed, but none is expected: the resend answers). */
  failed: number;
}

const outcomes = (): Outcomes => ({ ok: 0, doubleApplied: 0, lost: 0, failedButApplied: 0, failed: 0 });

const topologies: [string, () => Promise<Topology>][] = [
  ['single Redis', singleRedis],
  ['3-master Cluster', redisCluster],
];

describe.each(topologies)('a reply lost after Redis ran the command, on %s', (_, start) => {
  let topology: Topology;
  beforeAll(async () => {
    topology = await start();
  }, 60_000);
  afterAll(() => topology?.close());

  describe.each(['ioredis defaults', 'createRedisConnections', 'README options'] as const)('with %s', (kind) => {
    let served: Served;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const client = topology.client(kind);
      const { sessions, router } = resendApp(redisStore({ redis: client.redis as RedisClient }));
      served = await serveStandalone(router, sessions.createContext);
      close = async () => {
        await served.close();
        await sessions.close();
        await client.close();
      };
      // Every script loaded once: a cut EVALSHA would otherwise be answered NOSCRIPT, not run.
      const warm = browser<ResendRouter>(served.url).client;
      await warm.init.mutate();
      await warm.setNotice.mutate('warm');
      await warm.takeNotice.mutate();
      await warm.bump.mutate();
      await warm.login.mutate();
    }, 60_000);
    afterAll(() => close?.());

    test(`flash.take: the value is taken once, by the caller, over ${ROUNDS} rounds`, async () => {
      const counted = outcomes();
      for (let round = 0; round < ROUNDS; round++) {
        const { client } = browser<ResendRouter>(served.url);
        const notice = `notice ${round}`;
        await client.setNotice.mutate(notice);
        const taken = await withCut(topology.proxy, 'd:flash:notice', () => client.takeNotice.mutate());
        const left = await client.takeNotice.mutate();
        if (taken.error !== undefined) {
          if (left === notice) counted.failed++;
          else counted.lost++;
        } else if (taken.value === notice) {
          if (left === notice) counted.doubleApplied++;
          else counted.ok++;
        } else if (left === notice) counted.failed++;
        else counted.lost++;
      }
      console.log(`[resend ${topology.name}, ${kind}] flash.take`, counted);
      expect(counted).toEqual({ ...outcomes(), ok: ROUNDS });
    }, 600_000);

    test(`data.update(v => v + 1): each acknowledged increment counted once, over ${ROUNDS} rounds`, async () => {
      const counted = outcomes();
      const { client } = browser<ResendRouter>(served.url);
      await client.init.mutate();
      for (let round = 0; round < ROUNDS; round++) {
        const before = (await client.peek.query())!.bumps;
        const bumped = await withCut(topology.proxy, 'd:bumps', () => client.bump.mutate());
        const after = (await client.peek.query())!.bumps;
        if (after === before + 2) counted.doubleApplied++;
        else if (bumped.error !== undefined) {
          if (after === before) counted.failed++;
          else counted.failedButApplied++;
        } else if (after === before + 1 && bumped.value === after) counted.ok++;
        else counted.lost++;
      }
      console.log(`[resend ${topology.name}, ${kind}] data.update`, counted);
      expect(counted).toEqual({ ...outcomes(), ok: ROUNDS });
    }, 600_000);

    test(`regenerate(): the session moves once, with its data, whichever of its move and its create is cut, over ${ROUNDS} rounds`, async () => {
      const counted = outcomes();
      for (let round = 0; round < ROUNDS; round++) {
        const { client } = browser<ResendRouter>(served.url);
        const oldId = await client.init.mutate();
        // The move's script names the moved mark; the create of the new record alone sends a creation time.
        const marker = round % 2 === 0 ? 'trpc-session:moved' : 'm:c';
        const moved = await withCut(topology.proxy, marker, () => client.login.mutate());
        const after = await client.peek.query();
        const oldKey = await topology.keyType(`session:${oldId}`);
        if (moved.error !== undefined) {
          if (after?.id === oldId && after.bumps === 1) counted.failed++;
          else if (after !== null && after.bumps === 1) counted.failedButApplied++;
          else counted.lost++;
        } else if (after === null || after.id !== moved.value || after.bumps !== 1) counted.lost++;
        else if (oldKey === 'hash') counted.doubleApplied++;
        else counted.ok++;
      }
      console.log(`[resend ${topology.name}, ${kind}] regenerate`, counted);
      expect(counted).toEqual({ ...outcomes(), ok: ROUNDS });
    }, 600_000);
  });
});
