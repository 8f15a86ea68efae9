import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { eventually } from './fixture.js';
import { redisProcessGroup, withClient, type RedisProcess } from './redis-process.js';
import { freePort, onFreshPorts } from './redis-server.js';
import { waitForReplication } from './replication.js';

/** A throwaway Redis Cluster on loopback: masters and their replicas, each node a process in its own temp dir. */
export interface RedisCluster {
  readonly nodes: readonly RedisProcess[];
  /** Startup nodes for an ioredis `Cluster`. */
  readonly startupNodes: { host: string; port: number }[];
  /** A new ioredis `Cluster` client; the caller closes it. */
  client(options?: ClusterOptions): Cluster;
  /** A plain client to one node, for looking at it; the caller closes it. */
  node(port: number): Redis;
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** Resolves once every master's replicas have what the master had written when this was called. */
  waitForReplication(): Promise<void>;
  /**
   * Waits until the master on `port` is dead or paused, one of its replicas took over and every answering node
   * says the cluster is ok.
   */
  waitForFailover(port: number): Promise<void>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** `CLUSTER NODES` of one node: who is master of which slots, who replicates whom. */
async function clusterNodes(admin: Redis) {
  const text = (await admin.cluster('NODES')) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
      return {
        id: id!,
        port: Number(address!.split('@')[0]!.split(':')[1]),
        master: flags!.split(',').includes('master'),
        failed: flags!.split(',').some((flag) => flag === 'fail' || flag === 'fail?'),
        masterId: masterId!,
        slots: slots.map((range) => range.split('-').map(Number) as [number, number?]),
      };
    });
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes on free loopback ports (cluster bus ports chosen
 * free too), joins them with `redis-cli --cluster create`, and waits for `cluster_state:ok` everywhere.
 * A short node timeout makes a killed master fail over within seconds.
 */
export const startRedisCluster = ({ masters = 3, replicasPerMaster = 1 } = {}): Promise<RedisCluster> =>
  onFreshPorts(() => startRedisClusterOnce(masters, replicasPerMaster));

async function startRedisClusterOnce(masters: number, replicasPerMaster: number): Promise<RedisCluster> {
  const group = await redisProcessGroup('cluster');
  const nodes: RedisProcess[] = [];
  try {
    const ports = new Set<number>();
    while (ports.size < masters * (1 + replicasPerMaster) * 2) ports.add(await freePort());
    const [clientPorts, busPorts] = [[...ports].slice(0, ports.size / 2), [...ports].slice(ports.size / 2)];
    for (const [index, port] of clientPorts.entries()) {
      nodes.push(
        await group.launch('node', port, (dir) => [
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPorts[index]),
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '1000',
          '--save', '',
          '--appendonly', 'no',
        ]),
      );
    }
    await run(
      'redis-cli',
      ['--cluster', 'create', ...clientPorts.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
      { timeout: 30_000 },
    );
    const liveNodesOk = async () => {
      await Promise.all(
        nodes.filter((node) => node.answering).map((node) =>
          withClient(node.port, async (admin) => {
            const info = (await admin.cluster('INFO')) as string;
            if (!info.includes('cluster_state:ok')) throw new Error(`cluster node ${node.port} is not ok yet`);
          }),
        ),
      );
    };
    await eventually(liveNodesOk, 20_000);

    const servingMasters = async () => {
      const live = nodes.find((node) => node.answering)!;
      return (await withClient(live.port, clusterNodes)).filter((node) => node.master && !node.failed && node.slots.length > 0);
    };
    const cluster: RedisCluster = {
      nodes,
      startupNodes: clientPorts.map((port) => ({ host: '127.0.0.1', port })),
      client: (options) => new Cluster(cluster.startupNodes, options),
      node: (port) => new Redis(port, '127.0.0.1'),
      async masterOf(key) {
        const slot = await withClient(nodes.find((node) => node.answering)!.port, (admin) => admin.cluster('KEYSLOT', key));
        const owner = (await servingMasters()).find((master) => master.slots.some(([from, to = from]) => slot >= from && slot <= to));
        if (owner === undefined) throw new Error(`no live master serves slot ${slot}`);
        return owner.port;
      },
      async waitForReplication() {
        await Promise.all((await servingMasters()).map((master) => withClient(master.port, (admin) => waitForReplication(admin))));
      },
      async waitForFailover(port) {
        await eventually(async () => {
          const live = await servingMasters();
          if (live.some((master) => master.port === port)) throw new Error(`node ${port} is still a master`);
          if (live.length !== masters) throw new Error(`${live.length} of ${masters} masters are serving`);
          await liveNodesOk();
        }, 30_000);
      },
      stop: group.stop,
    };
    return cluster;
  } catch (error) {
    await group.stop();
    throw error;
  }
}
