/**
 * A server under test, run as its own process (forked by server-process.ts) so the load generator never
 * shares its event loop. Serves the benchmark router for one variant on one adapter, reports its URL over IPC,
 * and answers heap samples for the soak.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import express from 'express';
import { benchRouter } from './router.js';
import { VARIANTS, type VariantName } from './variants/index.js';
import type { VariantOptions } from './variants/variant.js';

export type Adapter = 'express' | 'standalone';

export interface ServerSpec extends VariantOptions {
  adapter: Adapter;
  variant: VariantName;
}

/** Messages between the parent and a server process. */
export type ToServer = { type: 'heap' } | { type: 'cpu' } | { type: 'stop' };
export type FromServer = { type: 'listening'; url: string } | { type: 'heap'; heapUsed: number } | { type: 'cpu'; micros: number };

async function main() {
  const spec = JSON.parse(process.argv[2]!) as ServerSpec;
  const variant = await VARIANTS[spec.variant].build(spec);
  const router = benchRouter(variant.session);
  let server: Server;
  let base: string;
  if (spec.adapter === 'express') {
    const app = express();
    if (variant.expressMiddleware) app.use(variant.expressMiddleware);
    app.use('/trpc', createExpressMiddleware({ router, createContext: variant.createContext }));
    server = createServer(app);
    base = '/trpc';
  } else {
    server = createServer(createHTTPHandler({ router, createContext: variant.createContext }));
    base = '';
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const send = (message: FromServer) => process.send!(message);
  send({ type: 'listening', url: `http://127.0.0.1:${port}${base}` });

  process.on('message', (message: ToServer) => {
    if (message.type === 'heap') {
      // A full collection first, so the sample is what is still reachable, not garbage awaiting collection.
      globalThis.gc?.();
      send({ type: 'heap', heapUsed: process.memoryUsage().heapUsed });
    } else if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', micros: user + system });
    } else {
      server.closeAllConnections();
      server.close();
      void variant.close().finally(() => process.exit(0));
    }
  });
}

void main();
