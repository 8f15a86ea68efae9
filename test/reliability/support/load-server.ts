/**
 * The server under load, in its own process so its heap is measured alone and `gc()` is available
 * (`node --expose-gc --import tsx`). Talks to the test over IPC: 'ready' with its URL; on 'heap', drops idle
 * connections, collects garbage and answers with heapUsed; on 'errors', answers with what onError got.
 */
import type { AddressInfo } from 'node:net';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { redisStore } from '../../../src/index.js';
import { router, testManager } from '../../helpers/app.js';
import { keepIdleConnectionsLonger } from '../../helpers/http.js';

const redis = new Redis(Number(process.env.REDIS_PORT), '127.0.0.1');
const { sessions, errors } = testManager(redisStore({ redis }));
const server = createHTTPServer({ router, createContext: sessions.createContext });
keepIdleConnectionsLonger(server);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const gc = (globalThis as { gc?: () => void }).gc!;

process.on('message', async (message: string) => {
  if (message === 'heap') {
    server.closeIdleConnections();
    for (let round = 0; round < 3; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    process.send!({ type: 'heap', used: process.memoryUsage().heapUsed });
  } else if (message === 'errors') {
    process.send!({ type: 'errors', names: errors.map((error) => error.name) });
  } else if (message === 'stop') {
    server.closeAllConnections();
    server.close();
    redis.disconnect();
    process.disconnect();
  }
});
process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
