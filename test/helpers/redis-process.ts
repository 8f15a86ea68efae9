import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitForPing } from './redis-server.js';

/** One redis-server process (a cluster node, a replica or a sentinel) running in its own temp directory. */
export interface RedisProcess {
  readonly port: number;
  readonly dir: string;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** SIGKILL: no shutdown, nothing saved, as in a crash. */
  kill(): Promise<void>;
}

/** A fresh temp directory; the caller removes it with {@link removeDir}. */
export function makeTempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `trpc-session-${name}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/**
 * Starts `redis-server` on loopback `port` with `args`, in `dir` (where it writes any state file), and
 * waits until it answers PING.
 */
export async function launchRedisProcess(port: number, dir: string, args: string[]): Promise<RedisProcess> {
  const child: ChildProcess = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], {
    cwd: dir,
    stdio: 'ignore',
  });
  try {
    await waitForPing(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    dir,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Runs `use` with a short-lived client to the server on `port` that gives up at once if it is down. */
export async function withClient<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  client.on('error', () => {}); // connect() and the command report failures
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}
