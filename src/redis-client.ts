import type { Cluster, Redis } from 'ioredis';

/** An ioredis client: a single `Redis` connection or a `Cluster`. */
export type RedisClient = Redis | Cluster;
