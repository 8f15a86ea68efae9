import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TRPCClientError } from '@trpc/client';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { browser } from './helpers/http.js';
import { installPackedLibrary, ROOT } from './helpers/packed-library.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/**
 * The packed library under Bun and Deno (both from npm: `npm ci` brings their binaries), in the server forms
 * their users write: examples/runtimes/*.ts, run as they are against a real redis-server, and driven over
 * HTTP by @trpc/client from this Node process.
 */

const EXAMPLES = join(ROOT, 'examples', 'runtimes');
/** Inside the repository, so the installed package's dependencies resolve from its node_modules. */
const APP_DIR = join(ROOT, 'test-artifacts', 'runtimes');
const BIN = join(ROOT, 'node_modules', '.bin');
const DENO_FLAGS = ['--allow-net', '--allow-env', '--allow-read', '--allow-sys'];

/** The runtime's version, or null (with a loud notice) where its binary cannot run on this machine. */
function version(name: string, binary: string, pattern: RegExp): string | null {
  try {
    const found = pattern.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1];
    if (found === undefined) throw new Error('no version in its output');
    console.log(`${name} ${found}: ${binary}`);
    return found;
  } catch (error) {
    console.warn(
      `\n!!! SKIPPING the ${name} tests: ${binary} cannot run here (${(error as Error).message.split('\n')[0]}).\n` +
        `!!! npm installs ${name} from the registry for linux/macOS/windows on x64 and arm64 (glibc); run \`npm ci\`.\n`,
    );
    return null;
  }
}

const bun = version('Bun', join(BIN, 'bun'), /^(\d+\.\d+\.\d+)/);
const deno = version('Deno', join(BIN, 'deno'), /^deno (\d+\.\d+\.\d+)/);

interface Form {
  name: string;
  runtime: string | null;
  command: string;
  args: string[];
}

const forms: Form[] = [
  { name: `Bun ${bun}: Bun.serve`, runtime: bun, command: join(BIN, 'bun'), args: ['run', 'bun-serve.ts'] },
  { name: `Bun ${bun}: node:http`, runtime: bun, command: join(BIN, 'bun'), args: ['run', 'node-http.ts'] },
  { name: `Deno ${deno}: Deno.serve`, runtime: deno, command: join(BIN, 'deno'), args: ['run', ...DENO_FLAGS, 'deno-serve.ts'] },
  { name: `Deno ${deno}: node:http`, runtime: deno, command: join(BIN, 'deno'), args: ['run', ...DENO_FLAGS, 'node-http.ts'] },
  {
    name: `Deno ${deno}: deno serve`,
    runtime: deno,
    command: join(BIN, 'deno'),
    args: ['serve', ...DENO_FLAGS, '--host', '127.0.0.1', '--port', '0', 'deno-serve-export.ts'],
  },
];

interface Basket {
  ref: string;
  cart: string[];
  userId: string | null;
}

/** The client side of examples/runtimes/app.ts's router (its file imports the package, which the type check cannot see). */
interface Client {
  basket: { query(): Promise<Basket | null> };
  add: { mutate(item: string): Promise<string[]> };
  login: { mutate(userId: string): Promise<void> };
  logout: { mutate(): Promise<void> };
}

interface App {
  url: string;
  output: string[];
  /** Sends SIGTERM; resolves to the exit code once the process is gone. */
  terminate(): Promise<number | null>;
}

let redis: RedisServer;
let inspect: Redis;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  if (bun === null && deno === null) return;
  redis = await startRedis();
  inspect = redis.client();
  inspect.on('error', () => {}); // refused while the outage test has Redis stopped
  mkdirSync(APP_DIR, { recursive: true });
  await installPackedLibrary(APP_DIR);
  for (const file of readdirSync(EXAMPLES)) cpSync(join(EXAMPLES, file), join(APP_DIR, file));
  // A package of its own: inside the repository's, `trpc-session` would resolve to the repository itself.
  writeFileSync(join(APP_DIR, 'package.json'), JSON.stringify({ name: 'runtimes-app', private: true, type: 'module' }));
}, 180_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  inspect?.disconnect();
  await redis?.stop(true);
});

async function startApp(form: Form): Promise<App> {
  const child = spawn(form.command, form.args, {
    cwd: APP_DIR,
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      PORT: '0',
      DO_NOT_TRACK: '1',
      DENO_NO_UPDATE_CHECK: '1',
      DENO_DIR: join(ROOT, 'test-artifacts', 'deno-cache'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  const url = await new Promise<string>((resolve, reject) => {
    // The examples print `listening on <url>/trpc`; `deno serve` prints `Listening on <url>/` to stderr.
    const onLine = (line: string) => {
      output.push(line);
      const match = /listening on (\S+)/i.exec(line);
      if (match) resolve(new URL('/trpc', match[1]!).href);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then((code) => reject(new Error(`${form.name} exited with ${code} before listening:\n${output.join('\n')}`)));
  });
  return {
    url,
    output,
    terminate() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const client = (url: string) => browser(url) as unknown as { client: Client; jar: ReturnType<typeof browser>['jar'] };

for (const form of forms) {
  describe.skipIf(form.runtime === null).sequential(form.name, () => {
    let app: App;
    beforeAll(async () => {
      app = await startApp(form);
    }, 60_000);
    afterAll(async () => {
      if (app !== undefined && running.size > 0) await app.terminate();
    });

    test('start, read back, batch, regenerate, destroy', async () => {
      const { client: c, jar } = client(app.url);
      expect(await c.basket.query()).toBeNull();
      expect(jar.cookies.size, 'a read creates no session').toBe(0);

      expect(await c.add.mutate('beans')).toEqual(['beans']);
      const first = jar.received.at(-1)!;
      expect(first).toMatchObject({ name: 'sid', httpOnly: true, sameSite: 'lax', path: '/', maxAge: 86400 });
      const guestId = first.value!;
      // Written once the response is out: it lands right after.
      await expect.poll(() => inspect.exists(`session:${guestId}`)).toBe(1);

      // One batch, one session: the second call sees what the first put.
      const carts = await Promise.all([c.add.mutate('mug'), c.add.mutate('cup')]);
      expect(carts).toEqual([['beans', 'mug'], ['beans', 'mug', 'cup']]);
      expect((await c.basket.query())?.cart).toEqual(['beans', 'mug', 'cup']);

      await c.login.mutate('ada');
      const userId = jar.cookies.get('sid')!;
      expect(userId).not.toBe(guestId);
      expect(await inspect.type(`session:${guestId}`), 'no record at the old ID, only the moved mark').toBe('string');
      expect(await c.basket.query()).toMatchObject({ cart: ['beans', 'mug', 'cup'], userId: 'ada' });

      await c.logout.mutate();
      expect(jar.cookies.has('sid'), 'logout expires the cookie').toBe(false);
      expect(await inspect.get(`session:${userId}`), 'no record, only the logout\'s revoked mark').toMatch(/^trpc-session:revoked\n/);
      expect(await c.basket.query()).toBeNull();
    });

    test('a Redis outage fails the call with SessionStoreUnavailableError; the server recovers with Redis', async () => {
      const { client: c } = client(app.url);
      await c.add.mutate('kettle');
      await redis.stop(true);
      try {
        const failure = (await c.add.mutate('filters').catch((error: unknown) => error)) as TRPCClientError<never>;
        expect(failure.message).toMatch(/^Session store unavailable/);
        expect(failure.data).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 });
      } finally {
        await redis.start();
      }
      // The restarted server kept nothing (no persistence): the old cookie names no session, a new one starts.
      const { client: after } = client(app.url);
      expect(await after.add.mutate('grinder')).toEqual(['grinder']);
      expect((await after.basket.query())?.cart).toEqual(['grinder']);
    });

    test('SIGTERM closes the server and the sessions, and the process exits', async () => {
      const { client: c } = client(app.url);
      await c.add.mutate('filters'); // the Redis connection is open
      expect(await app.terminate(), app.output.join('\n')).toBe(0);
    });
  });
}
