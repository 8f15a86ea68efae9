import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** An app server running in a child process of its own. */
export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** What the process reported through `onError`. */
  readonly errors: string[];
  stop(): Promise<void>;
}

const ENTRY = fileURLToPath(new URL('./session-server-process.ts', import.meta.url));

/**
 * Starts `entry` (through tsx; `session-server-process.ts` unless given) over the redis-server on `redisPort`,
 * with `env` added to its environment; resolves once it listens.
 */
export async function startServerProcess(redisPort: number, entry = ENTRY, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env, REDIS_PORT: String(redisPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errors: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => errors.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server process did not start within 20 s')), 20_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as { url: string; pid: number });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the server process exited before listening: ${errors.join('\n')}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    ...started,
    errors,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
