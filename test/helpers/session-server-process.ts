/**
 * The entry point of one app server process in the many-processes test: the test router over a Redis store
 * on the named connection `default` to the redis-server on REDIS_PORT, on a free loopback port. It prints
 * its URL as one JSON line, then serves until SIGTERM.
 */
import { createRedisConnections, redisStore } from '../../src/index.js';
import { router, testManager } from './app.js';
import { serveStandalone } from './http.js';

const connections = createRedisConnections({ default: { host: '127.0.0.1', port: Number(process.env.REDIS_PORT) } });
// Writes land before responses, so the next request may go to another process (see `persist`).
const { sessions } = testManager(redisStore({ redis: connections.use('default') }), {
  persist: 'before-response',
  onError: (error) => process.stderr.write(`${error.name}: ${error.message}\n`),
});
const served = await serveStandalone(router, sessions.createContext);
process.stdout.write(`${JSON.stringify({ url: served.url, pid: process.pid })}\n`);

process.once('SIGTERM', async () => {
  await served.close();
  await sessions.close();
  await connections.close();
  process.exit(0);
});
