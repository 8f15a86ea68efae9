import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

/** A throwaway redis-server on a free loopback port, which a test may stop, pause or restart. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A new client connected to this server; the caller quits it. */
  client(options?: RedisOptions): Redis;
  /** Commands the server has executed since the last `resetStats`, by name (lower case), from INFO commandstats. */
  commandStats(): Promise<Record<string, number>>;
  resetStats(): Promise<void>;
  /** Stops the process (SIGKILL when `hard`), keeping the port for `start`. */
  stop(hard?: boolean): Promise<void>;
  /** Starts the process again on the same port (empty: nothing is saved). */
  start(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Waits until the redis-server (or sentinel) `process` started on `port` answers PING. */
export async function waitForPing(port: number, process: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${process.exitCode}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {}); // refused while the server starts: expected, retried below
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer within 10 s`);
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...extraArgs],
      { stdio: 'ignore' },
    );
    await waitForPing(port, child);
  };
  await launch();

  const admin = () => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    client(options) {
      return new Redis(port, '127.0.0.1', options ?? {});
    },
    async commandStats() {
      const client = admin();
      try {
        const info = await client.info('commandstats');
        const stats: Record<string, number> = {};
        for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]!] = Number(match[2]);
        return stats;
      } finally {
        client.disconnect();
      }
    },
    async resetStats() {
      const client = admin();
      try {
        await client.config('RESETSTAT');
      } finally {
        client.disconnect();
      }
    },
    async stop(hard = false) {
      const running = child;
      if (!running || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill(hard ? 'SIGKILL' : 'SIGTERM');
      });
    },
    start: launch,
  };
  return server;
}
