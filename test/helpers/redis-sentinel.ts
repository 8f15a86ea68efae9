import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from './fixture.js';
import { redisProcessGroup, withClient, type RedisProcess } from './redis-process.js';
import { freePort } from './redis-server.js';
import { waitForReplication } from './replication.js';

/** A throwaway Sentinel deployment on loopback: one master, its replicas and the sentinels watching them. */
export interface RedisSentinel {
  /** The name the sentinels monitor the master under (ioredis `name`). */
  readonly name: string;
  /** The sentinels' addresses (ioredis `sentinels`). */
  readonly sentinels: { host: string; port: number }[];
  /** The data nodes, the first one the initial master. */
  readonly servers: readonly RedisProcess[];
  /** The sentinels' processes, in the order of `sentinels`. */
  readonly sentinelProcesses: readonly RedisProcess[];
  /** The port of the master the sentinels currently agree on (asking one that answers). */
  masterPort(): Promise<number>;
  /**
   * Resolves once every live data node but the master is its replica again, online, with what the master
   * had written when this was called.
   */
  waitForReplication(): Promise<void>;
  /** Asks a sentinel to fail over now (a switchover: the old master turns into a replica). */
  forceFailover(): Promise<void>;
  /**
   * Waits until every sentinel that answers (not one paused) names a master other than `port` and that server
   * answers as a master.
   */
  waitForFailover(port: number): Promise<void>;
  stop(): Promise<void>;
}

const NAME = 'sessions-master';

const roleOf = (port: number) => withClient(port, async (client) => /^role:(\w+)/m.exec(await client.info('replication'))?.[1]);

/**
 * Starts a master, `replicas` replicas of it and `sentinels` sentinels (quorum: a majority) on free loopback
 * ports, each in its own temp dir, and waits until the replicas are in sync and every sentinel knows the
 * replicas and the other sentinels. The master is declared down after 1 s without an answer.
 */
export async function startRedisSentinel({ replicas = 1, sentinels = 3 } = {}): Promise<RedisSentinel> {
  const group = await redisProcessGroup('sentinel');
  const launch = async (role: string, args: (dir: string) => string[] | Promise<string[]>) => group.launch(role, await freePort(), args);
  try {
    // No delay before a full resync: a demoted master must catch up at once, not after the default 5 s.
    const dataArgs = ['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
    const master = await launch('master', () => dataArgs);
    const servers = [master];
    for (let index = 0; index < replicas; index++) {
      servers.push(await launch('replica', () => [...dataArgs, '--replicaof', '127.0.0.1', String(master.port)]));
    }
    await withClient(master.port, (client) => waitForReplication(client, { replicas }));

    const sentinelProcesses: RedisProcess[] = [];
    for (let index = 0; index < sentinels; index++) {
      sentinelProcesses.push(
        await launch('sentinel', async (dir) => {
          // A sentinel rewrites its config file as it learns the topology, so each gets its own.
          const config = join(dir, 'sentinel.conf');
          await writeFile(
            config,
            [
              `sentinel monitor ${NAME} 127.0.0.1 ${master.port} ${Math.floor(sentinels / 2) + 1}`,
              `sentinel down-after-milliseconds ${NAME} 1000`,
              `sentinel failover-timeout ${NAME} 10000`,
              '',
            ].join('\n'),
          );
          return [config, '--sentinel'];
        }),
      );
    }
    await eventually(async () => {
      for (const sentinel of sentinelProcesses) {
        await withClient(sentinel.port, async (client) => {
          const [known, peers] = await Promise.all([client.call('SENTINEL', 'REPLICAS', NAME), client.call('SENTINEL', 'SENTINELS', NAME)]);
          if ((known as unknown[]).length < replicas || (peers as unknown[]).length < sentinels - 1) {
            throw new Error(`sentinel ${sentinel.port} has not discovered the deployment yet`);
          }
        });
      }
    }, 20_000);

    // A paused sentinel would never answer: only running ones are asked.
    const answering = () => sentinelProcesses.filter((sentinel) => sentinel.answering);
    const sentinelPort = () => answering()[0]!.port;
    const masterPortSeenBy = (port: number) =>
      withClient(port, async (client) => Number(((await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1]));
    const deployment: RedisSentinel = {
      name: NAME,
      sentinels: sentinelProcesses.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
      servers,
      sentinelProcesses,
      masterPort: () => masterPortSeenBy(sentinelPort()),
      async waitForReplication() {
        const master = await deployment.masterPort();
        const replicas = servers.filter((server) => server.alive && server.port !== master).length;
        // After a switchover the sentinels demote the old master only when they next poll it (up to 10 s).
        await withClient(master, (client) => waitForReplication(client, { replicas, ms: 30_000 }));
      },
      async forceFailover() {
        await withClient(sentinelPort(), (client) => client.call('SENTINEL', 'FAILOVER', NAME));
      },
      async waitForFailover(port) {
        await eventually(async () => {
          const seen = await Promise.all(answering().map((sentinel) => masterPortSeenBy(sentinel.port)));
          if (seen.some((master) => master === port || master !== seen[0])) throw new Error(`sentinels name masters ${seen.join(', ')}`);
          if ((await roleOf(seen[0]!)) !== 'master') throw new Error(`${seen[0]} does not answer as a master yet`);
        }, 30_000);
      },
      stop: group.stop,
    };
    return deployment;
  } catch (error) {
    await group.stop();
    throw error;
  }
}
