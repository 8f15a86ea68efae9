import { defineConfig } from 'vitest/config';

/**
 * `TRPC_SESSION_IOREDIS=6` runs the suite against ioredis 6 (the `ioredis6` alias dev dependency) in place of
 * ioredis 5, for the sources and the tests alike; `.ci/run` makes that second pass over the Redis-facing tests.
 */
const ioredis6 = process.env['TRPC_SESSION_IOREDIS'] === '6';

export default defineConfig({
  resolve: ioredis6 ? { alias: { ioredis: 'ioredis6' } } : {},
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
