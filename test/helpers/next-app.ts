import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './redis-server.js';
import { ROOT } from './packed-library.js';

const NEXT = join(ROOT, 'node_modules', '.bin', 'next');
const ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

/** Runs `next` with `args` in the app's folder `dir`; resolves to its output, rejects with it on failure. */
export function next(dir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(NEXT, args, { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`next ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

/** A `next start` of a built app. */
export interface NextServer {
  url: string;
  /** What it printed since started, line by line; a test takes out the lines it expects. */
  output: string[];
  stop(): Promise<void>;
}

/** `next start` in `dir` on a free loopback port, with `REDIS_URL`; resolves once it is ready. */
export async function startNext(dir: string, redisUrl: string): Promise<NextServer> {
  const port = await freePort();
  const output: string[] = [];
  const child: ChildProcess = spawn(NEXT, ['start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: dir,
    env: { ...ENV, REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (/Ready/.test(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`next start exited with ${code}:\n${output.join('\n')}`)));
  });
  output.length = 0;
  return {
    url: `http://127.0.0.1:${port}`,
    output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
