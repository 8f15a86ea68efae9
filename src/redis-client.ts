import type { Cluster, Redis } from 'ioredis';

/**
 * An ioredis client: a single `Redis` connection (`new Redis(…)`) or a `Cluster` (`new Cluster(…)`), from
 * ioredis 5 or 6. Described by what the library needs of it rather than by ioredis's own types, so the package's
 * types never load ioredis's: an app that does not use {@link redisStore} type-checks whatever ioredis is
 * installed (ioredis 6.1.0's declarations fail `skipLibCheck: false`). To send other commands through a
 * registry's client, give it ioredis's type: `(await connections.get('cache')) as Redis`.
 */
export interface RedisClient {
  /** `true` for a `Cluster`. */
  readonly isCluster: boolean;
  /** ioredis's connection status (`'ready'`, `'reconnecting'`, …). */
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The ioredis types of a {@link RedisClient}, for the library's own calls; never part of its public types. */
export type IORedisClient = Redis | Cluster;

/** A client the app gave, seen with ioredis's types: every `RedisClient` is a `Redis` or a `Cluster`. */
export const ioredisClient = (client: RedisClient): IORedisClient => client as IORedisClient;
