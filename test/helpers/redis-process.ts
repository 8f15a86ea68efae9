import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
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
  /** Whether the process is running and not paused, so it answers. */
  readonly answering: boolean;
  /** SIGSTOP: the process freezes with its connections open, as a partitioned or powerless host looks to clients. */
  pause(): void;
  /** SIGCONT: a paused process runs again. */
  resume(): void;
  /** SIGKILL: no shutdown, nothing saved, as in a crash. */
  kill(): Promise<void>;
}

/** Redis processes started as one deployment: each in its own directory under one temp root, stopped together. */
export interface RedisProcessGroup {
  /** Starts a process named `role-port`; `args` gets the directory it runs in. */
  launch(role: string, port: number, args: (dir: string) => string[] | Promise<string[]>): Promise<RedisProcess>;
  /** Kills every process and removes the temp root. */
  stop(): Promise<void>;
}

export async function redisProcessGroup(name: string): Promise<RedisProcessGroup> {
  const root = await mkdtemp(join(tmpdir(), `trpc-session-${name}-`));
  const processes: RedisProcess[] = [];
  return {
    async launch(role, port, args) {
      const dir = join(root, `${role}-${port}`);
      await mkdir(dir);
      const process = await launchRedisProcess(port, dir, await args(dir));
      processes.push(process);
      return process;
    },
    async stop() {
      await Promise.all(processes.map((process) => process.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `redis-server` on loopback `port` with `args`, in `dir` (where it writes any state file), and
 * waits until it answers PING.
 */
async function launchRedisProcess(port: number, dir: string, args: string[]): Promise<RedisProcess> {
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
  let paused = false;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    port,
    dir,
    get alive() {
      return alive();
    },
    get answering() {
      return alive() && !paused;
    },
    pause() {
      child.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      child.kill('SIGCONT');
      paused = false;
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (!alive()) return resolve();
        child.once('exit', () => resolve());
        // A stopped process is let run first, so it dies as a crashed one would.
        if (paused) child.kill('SIGCONT');
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
