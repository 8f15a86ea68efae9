import { createRequire } from 'node:module';
import * as ioredis from 'ioredis';
import { expect, inject, test } from 'vitest';
import { createRedisConnections } from '../src/index.js';

/** Guards the second CI pass: `TRPC_SESSION_IOREDIS=6` must really swap ioredis 6 in, for the sources too. */
test('the suite runs against the ioredis major TRPC_SESSION_IOREDIS names (5 unless set)', async () => {
  const require = createRequire(import.meta.url);
  const major = process.env['TRPC_SESSION_IOREDIS'] ?? '5';
  const installed = require(major === '6' ? 'ioredis6/package.json' : 'ioredis/package.json') as { version: string };
  expect(installed.version.split('.')[0]).toBe(major);
  const direct = (await import(major === '6' ? 'ioredis6' : '../node_modules/ioredis/built/index.js')) as typeof ioredis;
  expect(ioredis.Redis).toBe(direct.Redis);

  // A connection the library builds from options comes from the same ioredis.
  const connections = createRedisConnections({ default: { port: inject('redisPort'), host: '127.0.0.1' } });
  const client = await connections.use('default').client();
  expect(client).toBeInstanceOf(direct.Redis);
  expect(await (client as ioredis.Redis).ping()).toBe('PONG');
  await connections.close();
});
