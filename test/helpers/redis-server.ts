import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/**
 * The ports the kernel hands out itself (to `listen(0)` and to every outgoing connection's local end) start here.
 * A port for a redis-server is chosen below them: it is released before the server binds it (and a stopped
 * server binds it again), and a port in the kernel's range could meanwhile become the local end of any test's
 * connection, failing the server's bind.
 */
const kernelPortsFrom = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
})();

/** Whether nothing listens on loopback `port`: it is bound, then released. */
const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A loopback port nothing listens on, drawn at random below the kernel's own ports (from 10000: the machine's
 * services listen lower), so that test files running side by side are unlikely to draw the same one.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * Math.max(kernelPortsFrom - 10000, 1000));
    if (await bindable(port)) return port;
  }
}

/** Waits until the redis-server (or sentinel) `process` started on `port` answers PING. */
export async function waitForPing(port: number, process: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${process.exitCode}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {}); // refused while the server starts: expected, retried below
    let server: string | undefined;
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') server = await probe.info('server');
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    // The answer must be this process's: another test file's server may hold the port this one failed to bind.
    if (server !== undefined) {
      if (Number(/^process_id:(\d+)/m.exec(server)?.[1]) === process.pid) return;
      throw new Error(`port ${port} is another redis-server's`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer within 10 s`);
}

/**
 * `start` again on other ports when it fails: two test files running side by side may draw the same free port
 * before either server has bound it (see {@link freePort}).
 */
export async function onFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

export const startRedis = (extraArgs: string[] = []): Promise<RedisServer> => onFreshPorts(async () => startRedisOn(await freePort(), extraArgs));

async function startRedisOn(port: number, extraArgs: string[]): Promise<RedisServer> {
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...extraArgs],
      { stdio: 'ignore' },
    );
    await waitForPing(port, child);
  };
  try {
    await launch();
  } catch (error) {
    child?.kill('SIGKILL');
    throw error;
  }

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
