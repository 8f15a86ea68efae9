import { createHash } from 'node:crypto';
import { initTRPC } from '@trpc/server';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createRedisConnections, createSessionManager, redisStore, SessionStoreUnavailableError, type RedisConnectionConfig, type SessionContext, type SessionEvent, type SessionStore } from '../../src/index.js';
import { sessionRef } from '../../src/id.js';
import type { RedisClient } from '../../src/redis-client.js';
import * as scripts from '../../src/stores/redis-scripts.js';
import { startCuttingProxy, withCut, type CuttingProxy } from './cutting-proxy.js';
import { browser, serveStandalone, trpcClient, type Served } from './http.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { expectEveryRoundOk, failure, tally } from './rounds.js';

/*
 * A command that Redis ran but whose reply was lost is never applied twice nor lost. A proxy between the store's
 * client and Redis forwards one command of the session to Redis, waits for Redis's answer, and cuts the client's
 * connection instead of relaying it (./cutting-proxy.ts): ioredis resends the command once reconnected
 * (`autoResendUnfulfilledCommands`, on by default), or, with it off, the store sends it again itself. Each round
 * cuts one command and counts what the client was told against what Redis holds, on a single Redis and on a
 * 3-master Cluster, with ioredis's defaults, the clients `createRedisConnections` builds, and the client options
 * the README recommends.
 *
 * The steps that bind, touch and end a session are cut the same way; for a bind and a touch, the proxy also holds the
 * client's reconnection until another request (a server straight to Redis) has bound or touched the same session,
 * so the resend lands after it and must not undo it. An end must be told to `onEvent` once.
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

const markedSchema = z.object({ marker: z.string().optional() });

/** An app whose every load refreshes the expiry (`touchAfter: 0`) and whose users keep one session each. */
function bindingApp(store: SessionStore, events: SessionEvent[], errors: unknown[] = []) {
  const sessions = createSessionManager({
    schema: markedSchema,
    store,
    persist: 'before-response',
    touchAfter: 0,
    maxSessionsPerUser: 1,
    onEvent: (event) => void events.push(event),
    onError: (error) => void errors.push(error),
  });
  const t = initTRPC.context<SessionContext<typeof markedSchema>>().create();
  const procedure = t.procedure.concat(sessions.procedure);
  const router = t.router({
    begin: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      session.data.put('marker', input);
      return session.id;
    }),
    bind: procedure.input(z.string()).mutation(async ({ ctx, input }) => {
      await (await ctx.session.start()).bindUser(input);
    }),
    logout: procedure.mutation(async ({ ctx }) => {
      await ctx.session.destroy();
    }),
    peek: procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      return session === null ? null : { marker: session.data.get('marker') ?? null, userId: session.userId };
    }),
  });
  return { sessions, router };
}
type BindingRouter = ReturnType<typeof bindingApp>['router'];

/**
 * What a cut armed on one of the store's scripts looks for: ioredis names a defined command's script by its SHA1,
 * but sends the script itself the first time on a connection (a reconnection's resend too): its longest line that
 * no other script has.
 */
function scriptMarkers(lua: string): string[] {
  const others = Object.values(scripts).filter((value): value is string => typeof value === 'string' && value !== lua);
  const own = lua.split('\n').filter((line) => line.trim().length > 16 && !others.some((other) => other.includes(line)));
  const longest = own.sort((a, b) => b.length - a.length)[0];
  if (longest === undefined) throw new Error('the script has no line of its own');
  return [createHash('sha1').update(lua).digest('hex'), longest];
}

/** Where a round's client and the test's own look at Redis connect: through the proxy, or straight. */
interface Topology {
  name: string;
  proxy: CuttingProxy;
  /** A client of the kind named, through the proxy. */
  client(kind: ClientKind): { redis: RedisClient | ReturnType<ReturnType<typeof createRedisConnections>['use']>; close(): Promise<void> };
  /** Redis's type for the key (the test's own connection, not through the proxy). */
  keyType(key: string): Promise<string>;
  /** A hash field (the test's own connection). */
  hget(key: string, field: string): Promise<string | null>;
  /** A client straight to Redis, for another request's steps. */
  straight(): RedisClient;
  close(): Promise<void>;
}

export type ClientKind = 'ioredis defaults' | 'createRedisConnections' | 'README options';

/** The README's advice for the fastest failure and recovery (Running in production). */
const README_OPTIONS: RedisOptions = {
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: () => 100,
};

/**
 * A client of the kind named: one `createRedisConnections` builds from `connection`, or one `connect` makes
 * (with the README's options, or ioredis's defaults), its errors (the cuts) ignored.
 */
function clientOf(
  kind: ClientKind,
  connection: RedisConnectionConfig,
  connect: (readmeOptions: boolean) => Redis | Cluster,
): ReturnType<Topology['client']> {
  if (kind === 'createRedisConnections') {
    const connections = createRedisConnections({ sessions: connection });
    return { redis: connections.use('sessions'), close: () => connections.close() };
  }
  const client = connect(kind === 'README options');
  client.on('error', () => undefined); // the cuts
  return { redis: client, close: async () => client.disconnect() };
}

export async function singleRedis(): Promise<Topology> {
  const redis: RedisServer = await startRedis();
  const proxy = await startCuttingProxy([redis.port]);
  const port = proxy.portOf(redis.port);
  const look = redis.client();
  return {
    name: 'single Redis',
    proxy,
    client: (kind) =>
      clientOf(kind, { host: '127.0.0.1', port }, (readme) => new Redis({ host: '127.0.0.1', port, ...(readme ? README_OPTIONS : {}) })),
    keyType: (key) => look.type(key),
    hget: (key, field) => look.hget(key, field),
    straight: () => redis.client(),
    async close() {
      look.disconnect();
      await proxy.close();
      await redis.stop();
    },
  };
}

export async function redisCluster(): Promise<Topology> {
  const cluster: RedisCluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  const proxy = await startCuttingProxy(cluster.nodes.map((node) => node.port));
  // The cluster announces its nodes' own ports: the client is sent through the proxy's instead.
  const natMap = Object.fromEntries(cluster.nodes.map((node) => [`127.0.0.1:${node.port}`, { host: '127.0.0.1', port: proxy.portOf(node.port) }]));
  const startupNodes = cluster.nodes.map((node) => ({ host: '127.0.0.1', port: proxy.portOf(node.port) }));
  const look = cluster.client();
  return {
    name: '3-master Cluster',
    proxy,
    client: (kind) =>
      clientOf(kind, { cluster: startupNodes, natMap }, (readme) => {
        const options: ClusterOptions = readme
          ? { natMap, enableAutoPipelining: true, enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false } }
          : { natMap };
        return new Cluster(startupNodes, options);
      }),
    keyType: (key) => look.type(key),
    hget: (key, field) => look.hget(key, field),
    straight: () => cluster.client(),
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
  /**
   * Reported failed with the store unavailable, its outcome unknown, as the caller is told: on a loaded host a
   * Cluster client's reconnection may outlast `commandTimeout`. Allowed, at most 1 round in 100.
   */
  unknown: number;
}

const outcomes = (): Outcomes => ({ ok: 0, doubleApplied: 0, lost: 0, failedButApplied: 0, failed: 0, unknown: 0 });

/** Whether a call failed with the store unavailable (through tRPC, or from the manager). */
const unavailable = (error: unknown) => error instanceof Error && error.message === 'Session store unavailable';

/** Every round ends `ok`, but for the rare ones whose outcome the caller was told is unknown. */
function expectOk(counted: Outcomes): void {
  expect(counted.unknown).toBeLessThanOrEqual(Math.ceil(ROUNDS / 100));
  expect(counted).toEqual({ ...outcomes(), ok: ROUNDS - counted.unknown, unknown: counted.unknown });
}

/**
 * The cases, on one topology, with the client kinds named: test/resend.e2e.test.ts runs them on a single Redis,
 * test/resend-cluster.e2e.test.ts and test/resend-cluster-options.e2e.test.ts on a 3-master Cluster. The rounds
 * mostly wait for reconnections, so vitest.config.ts runs these files side by side.
 */
export const resendCases = (name: string, start: () => Promise<Topology>, kinds: readonly ClientKind[]) => describe(`a reply lost after Redis ran the command, on ${name}`, () => {
  let topology: Topology;
  /** Another server, straight to Redis: the request whose step lands between a first run and its resend. */
  let other: Served;
  let closeOther: () => Promise<void>;
  beforeAll(async () => {
    topology = await start();
    const { sessions, router } = bindingApp(redisStore({ redis: () => topology.straight() }), []);
    other = await serveStandalone(router, sessions.createContext);
    closeOther = async () => {
      await other.close();
      await sessions.close();
    };
  }, 60_000);
  afterAll(async () => {
    await closeOther?.();
    await topology?.close();
  });

  describe.each(kinds)('with %s', (kind) => {
    let served: Served;
    let close: () => Promise<void>;
    /** The binding app over the same client, and what it told `onEvent`. */
    let binding: Served;
    let bindingSessions: ReturnType<typeof bindingApp>['sessions'];
    const events: SessionEvent[] = [];
    /** What the binding app reported to `onError`: a trim's failure goes there, not to the caller. */
    const errors: unknown[] = [];
    beforeAll(async () => {
      const client = topology.client(kind);
      const { sessions, router } = resendApp(redisStore({ redis: client.redis as RedisClient }));
      served = await serveStandalone(router, sessions.createContext);
      const app = bindingApp(redisStore({ redis: client.redis as RedisClient }), events, errors);
      bindingSessions = app.sessions;
      binding = await serveStandalone(app.router, bindingSessions.createContext);
      close = async () => {
        await binding.close();
        await bindingSessions.close();
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
        if (unavailable(taken.error)) counted.unknown++;
        else if (taken.error !== undefined) {
          if (left === notice) counted.failed++;
          else counted.lost++;
        } else if (taken.value === notice) {
          if (left === notice) counted.doubleApplied++;
          else counted.ok++;
        } else if (left === notice) counted.failed++;
        else counted.lost++;
      }
      console.log(`[resend ${topology.name}, ${kind}] flash.take`, counted);
      expectOk(counted);
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
        else if (unavailable(bumped.error)) counted.unknown++;
        else if (bumped.error !== undefined) {
          if (after === before) counted.failed++;
          else counted.failedButApplied++;
        } else if (after === before + 1 && bumped.value === after) counted.ok++;
        else counted.lost++;
      }
      console.log(`[resend ${topology.name}, ${kind}] data.update`, counted);
      expectOk(counted);
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
        if (unavailable(moved.error)) counted.unknown++;
        else if (moved.error !== undefined) {
          if (after?.id === oldId && after.bumps === 1) counted.failed++;
          else if (after !== null && after.bumps === 1) counted.failedButApplied++;
          else counted.lost++;
        } else if (after === null || after.id !== moved.value || after.bumps !== 1) counted.lost++;
        else if (oldKey === 'hash') counted.doubleApplied++;
        else counted.ok++;
      }
      console.log(`[resend ${topology.name}, ${kind}] regenerate`, counted);
      expectOk(counted);
    }, 600_000);

    const told = (type: SessionEvent['type'], id: string, reason?: SessionEvent['reason']) =>
      events.filter((event) => event.type === type && event.ref === sessionRef(id) && event.reason === reason).length;

    /**
     * Runs `first` with a cut armed on `marker` that holds the client's reconnection; once the cut happened, runs
     * `between` (another request's step), then lets the client reconnect and resend. Resolves to `first`'s outcome.
     */
    async function withResendAfter<T>(marker: readonly string[], first: () => Promise<T>, between: () => Promise<unknown>): Promise<{ value?: T; error?: unknown }> {
      const cut = topology.proxy.cutAfter(marker, 'hold');
      const settled = first().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      const release = await Promise.race([cut, settled.then(() => null)]);
      if (release === null) throw new Error('the call settled with no command cut');
      try {
        await between();
      } finally {
        release();
      }
      return settled;
    }

    // The steps that bind, touch and end a session: with ioredis resending (its defaults) and with the store
    // resending itself (the README's options); createRedisConnections's clients resend as the defaults do.
    if (kind !== 'createRedisConnections') {
      test(`bindUser: a bind resent after another request's bind leaves the later bind, over ${ROUNDS} rounds`, async () => {
        const { counts, count } = tally();
        for (let round = 0; round < ROUNDS; round++) {
          const { client, jar } = browser<BindingRouter>(binding.url);
          const id = await client.begin.mutate(`bind-${round}`);
          const [first, later] = [`first-${kind}-${round}`, `later-${kind}-${round}`];
          // The same browser's next request, served by the other server.
          const bound = await withResendAfter(scriptMarkers(scripts.BIND_USER_SCRIPT), () => client.bind.mutate(first), () => trpcClient<BindingRouter>(other.url, jar).bind.mutate(later));
          const boundTo = await topology.hget(`session:${id}`, scripts.HASH.user);
          if (boundTo === first) count(`the later bind undone${bound.error === undefined ? '' : `, the bind failed (${failure(bound.error)})`}`);
          else if (bound.error !== undefined) count(`bind failed (${failure(bound.error)})`);
          else if (boundTo !== later) count(`bound to ${String(boundTo)}`);
          else count('ok');
        }
        console.log(`[resend ${topology.name}, ${kind}] bindUser`, counts);
        expectEveryRoundOk(counts, ROUNDS);
      }, 600_000);

      test(`touch: a refresh resent after a later one never takes the expiry back, over ${ROUNDS} rounds`, async () => {
        const { counts, count } = tally();
        for (let round = 0; round < ROUNDS; round++) {
          const { client, jar } = browser<BindingRouter>(binding.url);
          const id = await client.begin.mutate(`touch-${round}`);
          let later = 0;
          const peeked = await withResendAfter(
            scriptMarkers(scripts.TOUCH_SCRIPT),
            () => client.peek.query(),
            async () => {
              // A later millisecond than the first touch's, whatever the clock's resolution.
              await new Promise((resolve) => setTimeout(resolve, 2));
              await trpcClient<BindingRouter>(other.url, jar).peek.query();
              later = Number(await topology.hget(`session:${id}`, scripts.HASH.expiresAt));
            },
          );
          const expiresAt = Number(await topology.hget(`session:${id}`, scripts.HASH.expiresAt));
          if (expiresAt < later) count(`the expiry went back${peeked.error === undefined ? '' : `, the load failed (${failure(peeked.error)})`}`);
          else if (peeked.error !== undefined) count(`load failed (${failure(peeked.error)})`);
          else if (peeked.value?.marker !== `touch-${round}`) count('no session found');
          else count('ok');
        }
        console.log(`[resend ${topology.name}, ${kind}] touch`, counts);
        expectEveryRoundOk(counts, ROUNDS);
      }, 600_000);

      test(`destroy() of a session never moved: ended, and told once, over ${ROUNDS} rounds`, async () => {
        const { counts, count } = tally();
        for (let round = 0; round < ROUNDS; round++) {
          const { client } = browser<BindingRouter>(binding.url);
          const id = await client.begin.mutate(`destroy-${round}`);
          const ended = await withCut(topology.proxy, scriptMarkers(scripts.DESTROY_SESSION_SCRIPT), () => client.logout.mutate());
          const lives = (await topology.keyType(`session:${id}`)) === 'hash';
          const tells = told('destroyed', id);
          if (ended.error !== undefined) count(`logout failed (${failure(ended.error)})${lives ? ', the session lives' : ''}`);
          else if (lives) count('the session lives');
          else if (tells !== 1) count(`destroyed told ${tells} times`);
          else count('ok');
        }
        console.log(`[resend ${topology.name}, ${kind}] destroy`, counts);
        expectEveryRoundOk(counts, ROUNDS);
      }, 600_000);

      test(`revokeSession() of a session never moved: ended, answered true, and told once, over ${ROUNDS} rounds`, async () => {
        const { counts, count } = tally();
        for (let round = 0; round < ROUNDS; round++) {
          const { client } = browser<BindingRouter>(binding.url);
          const id = await client.begin.mutate(`revoke-${round}`);
          const user = `revoked-${kind}-${round}`;
          await client.bind.mutate(user);
          const revoked = await withCut(topology.proxy, scriptMarkers(scripts.REVOKE_SESSION_SCRIPT), () => bindingSessions.revokeSession(user, sessionRef(id)));
          const lives = (await topology.keyType(`session:${id}`)) === 'hash';
          const tells = told('revoked', id, 'revokeSession');
          if (revoked.error !== undefined) count(`revoke failed (${failure(revoked.error)})${lives ? ', the session lives' : ''}`);
          else if (lives) count('the session lives');
          else if (revoked.value !== true || tells !== 1) count(`answered ${String(revoked.value)}, revoked told ${tells} times`);
          else count('ok');
        }
        console.log(`[resend ${topology.name}, ${kind}] revokeSession`, counts);
        expectEveryRoundOk(counts, ROUNDS);
      }, 600_000);

      test(`maxSessionsPerUser: the session a login ends is ended, and told once, over ${ROUNDS} rounds`, async () => {
        const { counts, count } = tally();
        for (let round = 0; round < ROUNDS; round++) {
          const user = `trimmed-${kind}-${round}`;
          const first = browser<BindingRouter>(binding.url).client;
          const id = await first.begin.mutate(`trim-${round}`);
          await first.bind.mutate(user);
          const second = browser<BindingRouter>(binding.url).client;
          await second.begin.mutate(`trim-${round}`);
          // The user's second session: the login ends the first (maxSessionsPerUser: 1).
          errors.length = 0;
          const login = await withCut(topology.proxy, scriptMarkers(scripts.TRIM_SESSION_SCRIPT), () => second.bind.mutate(user));
          const lives = (await topology.keyType(`session:${id}`)) === 'hash';
          const tells = told('revoked', id, 'maxSessionsPerUser');
          const trimFailed = errors.find((error) => error instanceof SessionStoreUnavailableError);
          if (login.error !== undefined) count(`login failed (${failure(login.error)})`);
          else if (trimFailed !== undefined) count(`trim failed (${failure(trimFailed)})`);
          else if (lives) count('the session lives');
          else if (tells !== 1) count(`revoked told ${tells} times`);
          else count('ok');
        }
        console.log(`[resend ${topology.name}, ${kind}] maxSessionsPerUser`, counts);
        expectEveryRoundOk(counts, ROUNDS);
      }, 600_000);
    }
  });
});
