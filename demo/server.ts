import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { createSessionManager, memoryStore, redisStore } from '../src/index.js';
import { buildAssets } from './assets.js';
import { appRouter, flashSchema, SESSION_LIFESPAN, sessionSchema } from './router.js';

export interface DemoOptions {
  /** The port to listen on, on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The Redis to keep sessions in; without it, sessions live in this process's memory. */
  redisUrl?: string;
}

export interface RunningDemo {
  url: string;
  /** Where sessions are kept, for the start-up message. */
  storeDescription: string;
  close(): Promise<void>;
}

/** The Redis URL without its password, fit for a log line. */
function describeRedis(redisUrl: string): string {
  const url = new URL(redisUrl);
  url.password = '';
  return `Redis at ${url.href}`;
}

/** Starts the shopping-basket demo: the page and its tRPC API on one origin. */
export async function startDemo({ port, redisUrl }: DemoOptions): Promise<RunningDemo> {
  const sessions = createSessionManager({
    schema: sessionSchema,
    flash: flashSchema,
    // A factory: the store opens the connection on first use and closes it in `sessions.close()`.
    store: redisUrl === undefined ? memoryStore() : redisStore({ redis: () => new Redis(redisUrl, { enableAutoPipelining: true }) }),
    cookie: { name: 'basket_sid', lifespan: SESSION_LIFESPAN },
  });
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext: (opts) => ({ ...sessions.createContext(opts), userAgent: opts.req.headers['user-agent'], users: sessions }),
    basePath: '/trpc/',
  });
  const assets = await buildAssets();

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://demo').pathname;
    if (path.startsWith('/trpc/')) return trpc(req, res);
    const asset = req.method === 'GET' || req.method === 'HEAD' ? assets.get(path) : undefined;
    if (asset === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
      return;
    }
    res.writeHead(200, { 'content-type': asset.contentType, 'cache-control': 'no-store' }).end(asset.body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    storeDescription: redisUrl === undefined ? "this process's memory (memoryStore())" : describeRedis(redisUrl),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await sessions.close();
    },
  };
}

async function main() {
  const redisUrl = process.env['REDIS_URL'] || undefined;
  const demo = await startDemo({ port: Number(process.env['PORT'] ?? 3000), redisUrl });
  console.log(`trpc-session demo: ${demo.url}`);
  console.log(`Sessions are kept in ${demo.storeDescription}.`);
  if (redisUrl === undefined) console.log('They are lost when the demo stops; set REDIS_URL to keep them in Redis.');
  console.log('Press Ctrl-C to stop.');
  const stop = () => {
    console.log('Stopping…');
    demo.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
