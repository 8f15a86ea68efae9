import { initTRPC } from '@trpc/server';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, redisStore, type SessionEvent, type SessionStore } from '../src/index.js';
import { createSessionId, createWriteToken, sessionRef } from '../src/id.js';
import { DESTROY_SESSION_SCRIPT, HASH, MOVED_MARK, REVOKE_SESSION_SCRIPT, REVOKED_MARK } from '../src/stores/redis-scripts.js';
import { MOVED_MARK_MS } from '../src/stores/store.js';
import { startCuttingProxy, withCut, type CuttingProxy } from './helpers/cutting-proxy.js';
import { browser, serveStandalone, type Served } from './helpers/http.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { startRedis } from './helpers/redis-server.js';
import { expectEveryRoundOk, failure, tally } from './helpers/rounds.js';

/*
 * Ending a session that another request moved (regenerate()) is never undone by a lost reply. destroy() and the
 * revokes follow a moved mark one script per hop; the proxy (test/helpers/cutting-proxy.ts) lets Redis run the
 * first hop, at the old ID, and cuts the client's connection before its reply, so the hop is sent again once the
 * client reconnects (ioredis's defaults: `autoResendUnfulfilledCommands`). The hop sent again must answer as its
 * first run did, so the end goes on to the new ID: afterwards no record derived from the session is live, and
 * the end is told to `onEvent` once. Single Redis and a 3-master Cluster.
 */

const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 1500 : 150;

const schema = z.object({ marker: z.string().optional() });

/** Where a request waits, between reading its session and ending it, until the test lets it go on. */
const holds = new Map<string, { reached: () => void; release: Promise<void> }>();

function endingApp(store: SessionStore, events: SessionEvent[]) {
  const sessions = createSessionManager({ schema, store, onEvent: (event) => void events.push(event), onError: () => undefined });
  const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
  const router = t.router({
    begin: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      (await ctx.session.start()).data.put('marker', input);
      await ctx.session.persist();
      return true;
    }),
    signIn: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate();
      await session.bindUser(input);
      return true;
    }),
    regenerate: t.procedure.mutation(async ({ ctx }) => {
      await ctx.session.regenerate();
      return true;
    }),
    /** A logout that read its session, then waits for the test (another request moves the session meanwhile). */
    logout: t.procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      await ctx.session.load();
      const hold = holds.get(input)!;
      hold.reached();
      await hold.release;
      await ctx.session.destroy();
      return true;
    }),
    peek: t.procedure.query(async ({ ctx }) => (await ctx.session.load())?.data.get('marker') ?? null),
  });
  return { sessions, router };
}
type EndingRouter = ReturnType<typeof endingApp>['router'];

interface Topology {
  proxy: CuttingProxy;
  /** An ioredis client with its defaults, through the proxy. */
  throughProxy(): Redis | Cluster;
  /** A client straight to Redis, for the other request's steps. */
  straight(): Redis | Cluster;
  close(): Promise<void>;
}

async function singleRedis(): Promise<Topology> {
  const redis = await startRedis();
  const proxy = await startCuttingProxy([redis.port]);
  return {
    proxy,
    throughProxy: () => new Redis({ host: '127.0.0.1', port: proxy.portOf(redis.port) }).on('error', () => undefined),
    straight: () => redis.client(),
    async close() {
      await proxy.close();
      await redis.stop();
    },
  };
}

async function redisCluster(): Promise<Topology> {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  const proxy = await startCuttingProxy(cluster.nodes.map((node) => node.port));
  const natMap = Object.fromEntries(cluster.nodes.map((node) => [`127.0.0.1:${node.port}`, { host: '127.0.0.1', port: proxy.portOf(node.port) }]));
  return {
    proxy,
    throughProxy: () => new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: proxy.portOf(node.port) })), { natMap }).on('error', () => undefined),
    straight: () => cluster.client(),
    async close() {
      await proxy.close();
      await cluster.stop();
    },
  };
}

const topologies: [string, () => Promise<Topology>][] = [
  ['single Redis', singleRedis],
  ['3-master Cluster', redisCluster],
];

describe.each(topologies)('ending a moved session with the first hop\'s reply lost, on %s (ioredis defaults)', (_, start) => {
  let topology: Topology;
  let served: Served;
  let sessions: ReturnType<typeof endingApp>['sessions'];
  /** The other request's store, straight to Redis: a regenerate whose move is done and whose create is not yet. */
  let other: SessionStore;
  const events: SessionEvent[] = [];
  beforeAll(async () => {
    topology = await start();
    const app = endingApp(redisStore({ redis: () => topology.throughProxy() }), events);
    sessions = app.sessions;
    served = await serveStandalone(app.router, sessions.createContext);
    other = redisStore({ redis: () => topology.straight() });
    // Every script loaded on every node: a cut EVALSHA would otherwise be answered NOSCRIPT, not run.
    for (let warm = 0; warm < 12; warm++) {
      const { client } = browser<EndingRouter>(served.url, 'single');
      await client.begin.mutate('warm');
      await client.signIn.mutate(`warm-${warm}`);
      await client.regenerate.mutate();
      await sessions.revokeUser(`warm-${warm}`);
    }
    events.length = 0;
  }, 120_000);
  afterAll(async () => {
    await served?.close();
    await sessions?.close();
    await other?.close();
    await topology?.close();
  });

  /** What the session a cookie value names holds, asked with that cookie alone (not through the proxy's cuts). */
  const peekWith = async (sid: string) => {
    const response = await fetch(`${served.url}/peek`, { headers: { cookie: `sid=${sid}` } });
    return ((await response.json()) as { result: { data: string | null } }).result.data;
  };
  const told = (type: SessionEvent['type'], id: string) => events.filter((event) => event.type === type && event.ref === sessionRef(id)).length;

  test(`destroy() by a request that read the session before another's regenerate(): nothing derived lives, told once, over ${ROUNDS} rounds`, async () => {
    const { counts, count } = tally();
    for (let round = 0; round < ROUNDS; round++) {
      const marker = `destroy-${round}`;
      const { client, jar } = browser<EndingRouter>(served.url, 'single');
      await client.begin.mutate(marker);
      const oldSid = jar.cookies.get('sid')!;
      let reached!: () => void;
      let release!: () => void;
      const loaded = new Promise<void>((resolve) => (reached = resolve));
      holds.set(marker, { reached, release: new Promise<void>((resolve) => (release = resolve)) });
      const logout = client.logout.mutate(marker);
      await loaded;
      await client.signIn.mutate(`user-${marker}`);
      const newSid = jar.cookies.get('sid')!;
      // The destroy's first hop, at the old ID's moved mark, is the first command naming the old ID from here.
      const ended = await withCut(topology.proxy, oldSid, () => {
        release();
        return logout;
      });
      holds.delete(marker);
      const live = (await Promise.all([oldSid, newSid].map(peekWith))).some((found) => found === marker);
      const destroyed = told('destroyed', oldSid);
      if (ended.error !== undefined) count(`logout failed (${failure(ended.error)})${live ? ', a derived session lives' : ''}`);
      else if (live) count('a derived session lives');
      else if (destroyed !== 1) count(`destroyed told ${destroyed} times`);
      else count('ok');
    }
    console.log('[resend-ends] destroy after a move, first hop cut', counts);
    expectEveryRoundOk(counts, ROUNDS);
  }, 600_000);

  test(`revokeSession(user, ref) of a session moved since it was listed: the new ID ended, told once, over ${ROUNDS} rounds`, async () => {
    const { counts, count } = tally();
    for (let round = 0; round < ROUNDS; round++) {
      const marker = `revoke-session-${round}`;
      const user = `user-${marker}`;
      const { client, jar } = browser<EndingRouter>(served.url, 'single');
      await client.begin.mutate(marker);
      await client.signIn.mutate(user);
      const listedSid = jar.cookies.get('sid')!;
      // The device's own regenerate, after the revoker listed it by ref.
      await client.regenerate.mutate();
      const newSid = jar.cookies.get('sid')!;
      const revoked = await withCut(topology.proxy, listedSid, () => sessions.revokeSession(user, sessionRef(listedSid)));
      const live = (await Promise.all([listedSid, newSid].map(peekWith))).some((found) => found === marker);
      const tells = told('revoked', listedSid);
      if (revoked.error !== undefined) count(`revoke failed (${failure(revoked.error)})${live ? ', a derived session lives' : ''}`);
      else if (live) count('a derived session lives');
      else if (revoked.value !== true || tells !== 1) count(`answered ${String(revoked.value)}, revoked told ${tells} times`);
      else count('ok');
    }
    console.log('[resend-ends] revokeSession after a move, first hop cut', counts);
    expectEveryRoundOk(counts, ROUNDS);
  }, 600_000);

  test(`revokeUser(user) during a regenerate() whose move is done and create not yet: the create refused, told once, over ${ROUNDS} rounds`, async () => {
    const { counts, count } = tally();
    for (let round = 0; round < ROUNDS; round++) {
      const marker = `revoke-user-${round}`;
      const user = `user-${marker}`;
      const { client, jar } = browser<EndingRouter>(served.url, 'single');
      await client.begin.mutate(marker);
      await client.signIn.mutate(user);
      const oldSid = jar.cookies.get('sid')!;
      const now = Date.now();
      const newSid = createSessionId();
      const moved = await other.moveOut(oldSid, now, newSid);
      if (moved.status !== 'found') throw new Error('the move found no record');
      const revoked = await withCut(topology.proxy, oldSid, () => sessions.revokeUser(user));
      const { record } = moved;
      const created = await other.write(newSid, {
        create: true,
        now,
        ttlMs: MOVED_MARK_MS,
        createdAt: record.createdAt,
        userId: user,
        lifespan: null,
        schemaVersion: record.schemaVersion,
        set: record.fields,
        remove: [],
        maxSize: 65_536,
        token: createWriteToken(),
      });
      const live = created !== 'gone' || (await Promise.all([oldSid, newSid].map(peekWith))).some((found) => found === marker);
      const tells = told('revoked', oldSid);
      if (revoked.error !== undefined) count(`revoke failed (${failure(revoked.error)})${live ? ', a derived session lives' : ''}`);
      else if (live) count('a derived session lives');
      else if (revoked.value !== 1 || tells !== 1) count(`answered ${String(revoked.value)}, revoked told ${tells} times`);
      else count('ok');
    }
    console.log('[resend-ends] revokeUser during a move, first hop cut', counts);
    expectEveryRoundOk(counts, ROUNDS);
  }, 600_000);
});

describe('each hop of an end, sent twice, answers the same (the scripts, on one Redis)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = redis.client();
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  const destroyHop = (id: string, followed: '0' | '1', token: string) => client.eval(DESTROY_SESSION_SCRIPT, 1, `session:${id}`, followed, MOVED_MARK_MS, token);
  const revokeHop = (id: string, user: string, followed: '0' | '1', token: string) =>
    client.eval(REVOKE_SESSION_SCRIPT, 1, `session:${id}`, user, '', followed, MOVED_MARK_MS, token);

  test('destroy: the moved mark, the new record and a create not written yet; another call ends nothing', async () => {
    const [old, to, inFlight, inFlightTo] = Array.from({ length: 4 }, () => createSessionId()) as [string, string, string, string];
    const token = createWriteToken();
    await client.set(`session:${old}`, `${MOVED_MARK}:${to}\ncopy`, 'PX', MOVED_MARK_MS);
    await client.hset(`session:${to}`, HASH.createdAt, 1);
    await client.set(`session:${inFlight}`, `${MOVED_MARK}:${inFlightTo}`, 'PX', MOVED_MARK_MS);
    for (let run = 0; run < 2; run++) {
      expect(await destroyHop(old, '0', token)).toEqual([2, to]);
      expect(await destroyHop(to, '1', token)).toEqual([1]);
      expect(await destroyHop(inFlight, '0', token)).toEqual([2, inFlightTo]);
      expect(await destroyHop(inFlightTo, '1', token)).toEqual([1]);
    }
    const another = createWriteToken();
    for (const id of [old, inFlight]) expect(await destroyHop(id, '0', another)).toEqual([0]);
    for (const id of [to, inFlightTo]) expect(await destroyHop(id, '1', another)).toEqual([0]);
    expect(await client.get(`session:${old}`)).toBe(`${REVOKED_MARK}:${to}\n${token}`);
    expect(await client.get(`session:${inFlightTo}`)).toBe(`${REVOKED_MARK}\n${token}`);
  });

  test('revoke: the same, and a revoked mark of an older server (no call named) ends nothing', async () => {
    const [old, to, legacy] = Array.from({ length: 3 }, () => createSessionId()) as [string, string, string];
    const token = createWriteToken();
    await client.set(`session:${old}`, `${MOVED_MARK}:${to}\ncopy`, 'PX', MOVED_MARK_MS);
    await client.hset(`session:${to}`, HASH.createdAt, 1, HASH.user, 'ada');
    await client.set(`session:${legacy}`, REVOKED_MARK, 'PX', MOVED_MARK_MS);
    for (let run = 0; run < 2; run++) {
      expect(await revokeHop(old, 'ada', '0', token)).toEqual([2, to]);
      expect(await revokeHop(to, 'ada', '1', token)).toEqual([1]);
    }
    expect(await revokeHop(old, 'ada', '0', createWriteToken())).toEqual([0]);
    expect(await revokeHop(legacy, 'ada', '0', token)).toEqual([0]);
    expect(await destroyHop(legacy, '0', token)).toEqual([0]);
  });
});
