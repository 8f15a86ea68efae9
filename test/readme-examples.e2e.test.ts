import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createTRPCUntypedClient, createWSClient, httpBatchLink, wsLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { CookieJar } from './helpers/http.js';
import { startRedisCluster } from './helpers/redis-cluster.js';
import { startRedisSentinel } from './helpers/redis-sentinel.js';
import { freePort, startRedis, type RedisServer } from './helpers/redis-server.js';

/**
 * The server examples of the README and the site that test/package.test.ts does not run from the tarball, run here from the
 * sources as they are (tsx resolves `trpc-session` through tsconfig.json's paths): each in its own process,
 * on a free loopback port, against a throwaway redis-server, driven over real HTTP and WebSocket.
 */
const root = resolve(import.meta.dirname, '..');
let redis: RedisServer;
const running: ChildProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const example of running) example.kill('SIGKILL');
  await redis?.stop(true);
});

interface Started {
  url: string;
  process: ChildProcess;
  /** What the example printed so far. */
  logs(): string;
}

/** Starts `examples/<file>` with the environment a user would give it, and waits until it answers HTTP. */
async function start(file: string, env: Record<string, string> = { REDIS_URL: redis.url }): Promise<Started> {
  const port = await freePort();
  const example = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(example);
  let logs = '';
  example.stdout!.on('data', (chunk) => (logs += chunk));
  example.stderr!.on('data', (chunk) => (logs += chunk));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (example.exitCode !== null) throw new Error(`${file} exited with ${example.exitCode}:\n${logs}`);
    try {
      await fetch(url);
      return { url, process: example, logs: () => logs };
    } catch {
      if (attempt > 600) throw new Error(`${file} did not listen on ${url}:\n${logs}`);
      await new Promise((done) => setTimeout(done, 50));
    }
  }
}

/** A tRPC client over `httpBatchLink` with a cookie jar: a browser's tab, for these servers. */
const httpClient = (url: string, jar = new CookieJar()) => createTRPCUntypedClient({ links: [httpBatchLink({ url, fetch: jar.fetch })] });

test('examples/before-response.ts: a call answers once its change is in Redis; the next call builds on it', async () => {
  const { url } = await start('before-response.ts');
  const jar = new CookieJar();
  const client = httpClient(url, jar);
  const inspect = redis.client();
  try {
    expect(await client.mutation('nextStep')).toBe(1);
    const id = jar.cookies.get('sid')!;
    expect(id).toMatch(/^[\w-]{32}$/);
    // No wait: the record is there when the answer is.
    expect(await inspect.exists(`session:${id}`)).toBe(1);
    expect(await client.mutation('nextStep')).toBe(2);
    expect(await httpClient(url).mutation('nextStep'), 'another client has a session of its own').toBe(1);
  } finally {
    inspect.disconnect();
  }
});

test('examples/express.ts: sessions.createContext as it is, in createExpressMiddleware', async () => {
  const { url } = await start('express.ts');
  const client = httpClient(`${url}/trpc`);
  expect(await client.mutation('visit')).toBe(1);
  expect(await client.mutation('visit')).toBe(2);
  expect(await httpClient(`${url}/trpc`).mutation('visit'), 'another client has a session of its own').toBe(1);
});

test('examples/healthz.ts: /healthz answers 200 while Redis answers and 503 while it is silent, with no session, no cookie and no address', async () => {
  const own = await startRedis();
  const inspect = own.client();
  try {
    const { url, logs } = await start('healthz.ts', { REDIS_URL: own.url });
    const healthy = await fetch(`${url}/healthz`);
    expect([healthy.status, await healthy.text(), healthy.headers.get('set-cookie')]).toEqual([200, 'ok', null]);
    expect(await inspect.dbsize(), 'the probe creates no session').toBe(0);
    await inspect.call('CLIENT', 'PAUSE', '5000', 'ALL');
    const silent = await fetch(`${url}/healthz`);
    const body = await silent.text();
    expect([silent.status, body]).toEqual([503, 'unavailable']);
    expect(body).not.toContain(String(own.port));
    await inspect.call('CLIENT', 'UNPAUSE');
    expect(logs()).toContain('healthz: session store unavailable: no answer within 500 ms');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await httpClient(`${url}/trpc`).mutation('visit'), 'the API beside it').toBe(1);
  } finally {
    inspect.disconnect();
    await own.stop(true);
  }
});

describe('examples/websocket.ts', () => {
  let served: Started;
  beforeAll(async () => {
    served = await start('websocket.ts');
  });

  /** A `wsLink` client whose upgrade request carries the jar's cookies, as a browser's does. */
  function socketClient(jar: CookieJar) {
    const cookie = jar.header();
    class CookieWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, { headers: cookie === undefined ? {} : { cookie } });
      }
    }
    const connection = createWSClient({ url: served.url.replace('http:', 'ws:'), WebSocket: CookieWebSocket as never, retryDelayMs: () => 50 });
    return { client: createTRPCUntypedClient({ links: [wsLink({ client: connection })] }), close: () => connection.close() };
  }

  test('a session started over HTTP is read and written over the WebSocket, and HTTP sees the writes', async () => {
    const jar = new CookieJar();
    const http = httpClient(served.url, jar);
    expect(await http.mutation('visit')).toBe(1);
    const socket = socketClient(jar);
    try {
      expect(await socket.client.mutation('visit')).toBe(2);
      expect(await socket.client.mutation('visit')).toBe(3);
      expect(await http.mutation('visit')).toBe(4);
    } finally {
      await socket.close();
    }
  });

  test('without a session cookie, the WebSocket call fails and says to start the session over HTTP', async () => {
    const socket = socketClient(new CookieJar());
    try {
      await expect(socket.client.mutation('visit')).rejects.toThrow(/WebSocket.*no session cookie can be set.*httpBatchLink/);
    } finally {
      await socket.close();
    }
  });
});

test('examples/caller.ts: a page rendered with a server-side caller starts the session, sets the cookie and resumes it', async () => {
  const { url } = await start('caller.ts');
  const jar = new CookieJar();
  const page = async () => {
    const response = await jar.fetch(url);
    expect(response.status).toBe(200);
    return response.text();
  };
  expect(await page()).toBe('<p>Visit number 1</p>');
  expect(jar.cookies.get('sid')).toMatch(/^[\w-]{32}$/);
  expect(await page()).toBe('<p>Visit number 2</p>');
  expect(await (await fetch(url)).text(), 'a request without the cookie has a session of its own').toBe('<p>Visit number 1</p>');
});

describe('examples/redis-connections.ts: the sessions connection from the environment', () => {
  /** Two calls share a session over the connection the environment names; SIGTERM closes everything and the process ends. */
  async function check(env: Record<string, string>) {
    const served = await start('redis-connections.ts', env);
    const client = httpClient(served.url);
    expect(await client.mutation('visit')).toBe(1);
    expect(await client.mutation('visit')).toBe(2);
    const exited = new Promise<number | null>((done) => served.process.once('exit', (code) => done(code)));
    served.process.kill('SIGTERM');
    expect(await exited, `the example did not end by itself:\n${served.logs()}`).toBe(0);
    expect(served.logs(), 'nothing is reported on a clean shutdown').toBe('');
  }

  test('a single server: REDIS_HOST and REDIS_PORT', async () => {
    await check({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) });
  });

  test('a Redis Cluster: REDIS_CLUSTER', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
    try {
      await check({ REDIS_CLUSTER: cluster.startupNodes.map(({ host, port }) => `${host}:${port}`).join(',') });
    } finally {
      await cluster.stop();
    }
  }, 90_000);

  test('Sentinel: REDIS_SENTINELS and REDIS_SENTINEL_NAME', async () => {
    const deployment = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    try {
      await check({ REDIS_SENTINELS: deployment.sentinels.map(({ host, port }) => `${host}:${port}`).join(','), REDIS_SENTINEL_NAME: deployment.name });
    } finally {
      await deployment.stop();
    }
  }, 90_000);
});
