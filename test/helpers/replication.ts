import type { Redis } from 'ioredis';
import { eventually } from './fixture.js';

/** A master's replication offset and what each replica has acknowledged of it, from INFO replication. */
export async function replicationState(master: Redis): Promise<{ offset: number; replicas: { port: number; online: boolean; offset: number }[] }> {
  const info = await master.info('replication');
  const offset = Number(/^master_repl_offset:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
  const replicas = [...info.matchAll(/^slave\d+:.*port=(\d+),state=(\w+),offset=(\d+)/gm)].map((match) => ({
    port: Number(match[1]),
    online: match[2] === 'online',
    offset: Number(match[3]),
  }));
  return { offset, replicas };
}

/**
 * Resolves once `master` has at least `replicas` replicas online and every one of them has acknowledged all
 * the master had written when this was called (later writes may go on meanwhile). Redis replicates
 * asynchronously: only writes older than this point are sure to survive the master's death.
 */
export async function waitForReplication(master: Redis, { replicas: expected = 1, ms = 15_000 } = {}): Promise<void> {
  const { offset } = await replicationState(master);
  await eventually(async () => {
    const { replicas } = await replicationState(master);
    if (replicas.length < expected || !replicas.every((replica) => replica.online && replica.offset >= offset)) {
      throw new Error(`replicas of master ${master.options.port} have not caught up with offset ${offset}: ${JSON.stringify(replicas)}`);
    }
  }, ms);
}
