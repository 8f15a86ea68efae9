import { initTRPC } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { z } from 'zod';
import { createRedisConnections, createSessionManager, redisStore, type RedisConnectionConfig } from 'trpc-session';

/** `host:port,host:port` as ioredis wants it. */
const addresses = (list: string) =>
  list.split(',').map((address) => ({ host: address.split(':')[0]!, port: Number(address.split(':')[1] ?? 6379) }));

/** The sessions' Redis, from the environment: a Cluster, a Sentinel deployment or a single server. */
function sessionsRedis(env = process.env): RedisConnectionConfig {
  if (env.REDIS_CLUSTER) return { cluster: addresses(env.REDIS_CLUSTER) }; // Redis Cluster (+ ClusterOptions)
  if (env.REDIS_SENTINELS) {
    return { sentinels: addresses(env.REDIS_SENTINELS), name: env.REDIS_SENTINEL_NAME ?? 'mymaster', failoverDetector: true };
  }
  return { host: env.REDIS_HOST ?? '127.0.0.1', port: Number(env.REDIS_PORT ?? 6379) }; // ioredis RedisOptions
  // or your own client: () => new Redis(env.REDIS_URL!, { enableAutoPipelining: true })
}

const connections = createRedisConnections({ sessions: sessionsRedis() });

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: connections.use('sessions') }),
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

const server = createHTTPServer({ router, createContext: sessions.createContext }).listen(Number(process.env.PORT ?? 3000));
// On shutdown: no new requests, then the sessions (which never close a shared connection), then the connections.
process.on('SIGTERM', () =>
  server.close(async () => {
    await sessions.close();
    await connections.close();
  }),
);
