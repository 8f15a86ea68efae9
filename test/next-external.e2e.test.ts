import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { next, startNext, type NextServer } from './helpers/next-app.js';
import { installPackedLibrary, ROOT } from './helpers/packed-library.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/**
 * examples/next with `serverExternalPackages`: the README's `['trpc-session', '@trpc/server']`, one copy of
 * each in the server, loaded from node_modules; and `['trpc-session']` alone, where every session error is
 * of another TRPCError class than the router's (bundled) one. test/next.e2e.test.ts runs the app as it is,
 * where Next bundles a copy into each route. Copies of the app in test-artifacts/, built at the same time.
 */

const CONFIGS = { both: ['trpc-session', '@trpc/server'], alone: ['trpc-session'] } as const;
type Config = keyof typeof CONFIGS;
const COOKIE = 'basket_sid';

interface Running {
  app: string;
  redis: RedisServer;
  inspect: Redis;
  server: NextServer;
}
const running: Partial<Record<Config, Running>> = {};

async function buildAndStart(config: Config): Promise<Running> {
  const app = join(ROOT, 'test-artifacts', `next-external-${config}`);
  rmSync(app, { recursive: true, force: true });
  cpSync(join(ROOT, 'examples', 'next'), app, { recursive: true, filter: (path) => !/[\\/](node_modules|\.next|next-env\.d\.ts)$/.test(path) });
  writeFileSync(
    join(app, 'next.config.ts'),
    `import type { NextConfig } from 'next';\n\nconst config: NextConfig = { serverExternalPackages: ${JSON.stringify(CONFIGS[config])} };\nexport default config;\n`,
  );
  await installPackedLibrary(app);
  await next(app, ['build']);
  const redis = await startRedis();
  return { app, redis, inspect: redis.client({ connectionName: 'inspect' }), server: await startNext(app, redis.url) };
}

beforeAll(async () => {
  await Promise.all((Object.keys(CONFIGS) as Config[]).map(async (config) => (running[config] = await buildAndStart(config))));
}, 900_000);

afterAll(async () => {
  for (const { server, inspect, redis } of Object.values(running)) {
    await server.stop();
    inspect.disconnect();
    await redis.stop(true);
  }
});

/** The server chunks' text: the library is loaded from node_modules, not bundled. */
function serverChunks(app: string): string {
  const dir = join(app, '.next', 'server');
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.js'))
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('\n');
}

describe.each(Object.keys(CONFIGS) as Config[])('serverExternalPackages: %s', (config) => {
  const call = (path: string, init: RequestInit = {}, cookie?: string) =>
    fetch(`${running[config]!.server.url}${path}`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie: `${COOKIE}=${cookie}` } : {}) },
    });
  const add = (productId: string, headers: Record<string, string> = {}) =>
    call('/api/trpc/add?batch=1', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ 0: { json: productId } }) });

  test('no route bundles the library; every route shares one manager; session errors keep their codes, in an outage too', async () => {
    const { app, redis, inspect, server } = running[config]!;
    expect(serverChunks(app)).not.toContain('trpc-session.error-class');
    expect((await call('/')).status).toBe(200);

    // The stream cannot carry a new cookie: start() fails with its own code.
    const streamed = await add('beans', { 'trpc-accept': 'application/jsonl' });
    expect(await streamed.text()).toContain('"code":"PRECONDITION_FAILED"');

    const started = await add('beans');
    expect(started.status).toBe(200);
    const sid = /^basket_sid=([^;]+)/.exec(started.headers.getSetCookie()[0] ?? '')?.[1];
    expect(sid).toBeDefined();
    for (const path of ['/api/trpc/basket', '/api/pages-trpc/basket']) {
      const { result } = (await (await call(path, {}, sid)).json()) as { result: { data: { json: { items: unknown[] } } } };
      expect(result.data.json.items, path).toEqual([{ productId: 'beans', quantity: 1 }]);
    }
    const clients = ((await inspect.client('LIST')) as string).split('\n').filter((line) => line.includes(' cmd=') && !line.includes(' name=inspect '));
    expect(clients).toHaveLength(1);

    const quiet = () => undefined;
    inspect.on('error', quiet);
    server.output.length = 0;
    await redis.stop();
    try {
      for (const path of ['/api/trpc/basket', '/api/pages-trpc/basket']) {
        const response = await call(path, {}, sid);
        expect(response.status, path).toBe(500);
        const { error } = (await response.json()) as { error: { json: { message: string; data: { code: string } } } };
        expect(error.json.data.code, path).toBe('INTERNAL_SERVER_ERROR');
        expect(error.json.message, path).toBe('Session store unavailable');
      }
      const reported = () => server.output.filter((line) => line.includes('[trpc-session]'));
      await expect.poll(reported).toEqual([expect.stringMatching(/^\[trpc-session\] SessionStoreUnavailableError: Session store unavailable: /)]);
    } finally {
      await redis.start();
      inspect.off('error', quiet);
    }
    expect((await call('/api/trpc/basket', {}, sid)).status).toBe(200);
    await expect
      .poll(() => server.output.filter((line) => line.includes('[trpc-session]')).at(-1))
      .toMatch(/^\[trpc-session\] SessionStoreRecoveredError: Session store available again /);
  }, 60_000);
});
