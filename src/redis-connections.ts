import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import { ioredisClient, type IORedisClient, type RedisClient } from './redis-client.js';
import { closingOwned, takeCharge } from './stores/redis-health.js';

/**
 * One Redis server or a Sentinel deployment: ioredis `RedisOptions`, passed to `new Redis()` as they are. The
 * usual ones are typed here; the package's types do not load ioredis's, so other ioredis options are accepted
 * unchecked.
 */
export interface RedisServerOptions {
  host?: string;
  port?: number;
  /** A Unix socket path, in place of `host` and `port`. */
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  /** Sentinels to ask for the master named `name`. */
  sentinels?: { host?: string; port?: number }[];
  name?: string;
  /** Any other ioredis `RedisOptions`. */
  [option: string]: unknown;
}

/**
 * A Redis Cluster: the startup nodes ioredis discovers the cluster from, plus ioredis `ClusterOptions` (passed
 * to `new Cluster()` as they are, unchecked, like {@link RedisServerOptions}'s other options).
 */
export interface RedisClusterConnectionOptions {
  /** Startup nodes (`{ host, port }`, `'host:port'` or a port); one reachable node is enough. */
  cluster: (string | number | { host?: string; port?: number })[];
  /** Any ioredis `ClusterOptions`. */
  [option: string]: unknown;
}

/**
 * How to open one named connection: {@link RedisServerOptions} (one server, or Sentinel with `sentinels` and
 * `name`), {@link RedisClusterConnectionOptions}, or a function that returns a client you built yourself.
 * Either way the registry opens it on first use and closes it in `close()`, and the library takes charge of
 * its connection errors: ioredis never prints them as unhandled, and a store using it reports each outage to
 * `onError` once (add your own `error` listener to see every one). Built from options, it has ioredis's
 * `enableAutoPipelining` on unless the options set it.
 */
export type RedisConnectionConfig = RedisServerOptions | RedisClusterConnectionOptions | (() => RedisClient);

/**
 * A named connection of a registry, not opened yet: what `redisStore({ redis })` takes to share a
 * registry's connection. The store opens it on its first session access and never closes it.
 */
export interface SharedRedisConnection {
  readonly name: string;
  /** The registry's client for this name, opened on the first call. */
  client(): Promise<RedisClient>;
}

/** The registry {@link createRedisConnections} returns. */
export interface RedisConnections<Name extends string = string> {
  /** The client for `name`, opened on the first call and shared by every later one. */
  get(name: Name): Promise<RedisClient>;
  /**
   * A lazy reference to the connection `name`, for `redisStore({ redis: connections.use('sessions') })`.
   * Does no I/O; throws at once for a name the registry does not know, so a typo fails at start-up.
   */
  use(name: Name): SharedRedisConnection;
  /** Closes every connection this registry opened (and none it never opened); later `get` calls fail. */
  close(): Promise<void>;
}

/**
 * How often a Cluster the registry builds reads its slot map again (unless the options set
 * `slotsRefreshInterval`): ioredis otherwise learns of a failover only from a MOVED reply, which a master that
 * froze never sends, so commands that are not the session store's (which refreshes after a timeout) would wait.
 */
const CLUSTER_SLOTS_REFRESH_MS = 5000;

/** Opens a connection the registry owns, so the library takes charge of its connection errors. */
async function open(config: RedisConnectionConfig): Promise<IORedisClient> {
  const client = await build(config);
  takeCharge(client);
  return client;
}

/**
 * ioredis is loaded only when a connection is built from options. Such a connection has
 * `enableAutoPipelining` on unless the options say otherwise: the commands of concurrent requests then share
 * socket writes, which `npm run bench` measured at +6 to +11% req/s for sessions that read or write.
 */
async function build(config: RedisConnectionConfig): Promise<IORedisClient> {
  if (typeof config === 'function') return ioredisClient(config());
  const { Cluster, Redis } = await import('ioredis');
  if ('cluster' in config) {
    const { cluster, ...options } = config as RedisClusterConnectionOptions;
    return new Cluster(cluster as ClusterNode[], { enableAutoPipelining: true, slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS, ...(options as ClusterOptions) });
  }
  return new Redis({ enableAutoPipelining: true, ...(config as RedisOptions) });
}

/**
 * QUIT lets queued replies arrive; a client that is not connected has nothing to wait for. The `disconnect()`
 * after QUIT closes what QUIT leaves open: a Sentinel client's `failoverDetector` subscriptions, which would
 * otherwise keep the process alive.
 */
async function shutDown(client: IORedisClient): Promise<void> {
  closingOwned(client);
  if (client.status === 'ready') await client.quit().catch(() => undefined);
  client.disconnect();
}

/**
 * A registry of named Redis connections, like a pool configuration: the session store names the one it
 * uses, and connections are opened only when first needed, then shared.
 *
 * @example
 * const connections = createRedisConnections({
 *   default: { host: 'redis.internal', port: 6379 },
 *   sessions: { cluster: [{ host: 'redis-cluster.internal', port: 6379 }] },
 * });
 * const sessions = createSessionManager({ schema, store: redisStore({ redis: connections.use('sessions') }) });
 * // on shutdown: await sessions.close(); await connections.close();
 */
export function createRedisConnections<Name extends string>(configs: Record<Name, RedisConnectionConfig>): RedisConnections<Name> {
  const opened = new Map<string, Promise<IORedisClient>>();
  let closed = false;

  const assertKnown = (name: string): void => {
    if (!Object.hasOwn(configs, name)) {
      const known = Object.keys(configs).map((known) => `"${known}"`).join(', ') || 'none';
      throw new TypeError(`trpc-session: no Redis connection is named "${name}" (known: ${known})`);
    }
  };

  const get = async (name: Name): Promise<RedisClient> => {
    assertKnown(name);
    if (closed) throw new Error(`trpc-session: Redis connection "${name}" was asked for after the registry was closed`);
    let client = opened.get(name);
    if (client === undefined) {
      client = open(configs[name]);
      opened.set(name, client);
      // A factory that failed is tried again on the next call rather than failing forever.
      client.catch(() => opened.get(name) === client && opened.delete(name));
    }
    return client;
  };

  return {
    get,
    use(name) {
      assertKnown(name);
      return { name, client: () => get(name) };
    },
    async close() {
      closed = true;
      const clients = [...opened.values()];
      opened.clear();
      await Promise.all(clients.map((client) => client.then(shutDown, () => undefined)));
    },
  };
}
