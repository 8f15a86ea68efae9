import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files that build (tsup, `next build`, tsc over packed consumers and under other compiler options, typedoc, the
 * VitePress site) and start other runtimes or a browser: CPU-heavy for a minute or two. They run after the rest
 * of the suite, so they never slow its timing-sensitive tests (outages, load) on a small host.
 */
const BUILDS = [
  'test/next.e2e.test.ts',
  'test/next-external.e2e.test.ts',
  'test/next-dev.e2e.test.ts',
  'test/runtimes.e2e.test.ts',
  'test/package.test.ts',
  'test/type-versions.test.ts',
  'test/docs.test.ts',
  'test/site.e2e.test.ts',
  'test/exact-optional-types.test.ts',
];

/**
 * The lost-reply rounds: hundreds of rounds per test, each waiting for a client to reconnect through a cutting
 * proxy, so they use little CPU and most of the suite's time. They run first, side by side, each with its own
 * Redis or Cluster, before the rest of the suite runs one file at a time.
 */
const RECONNECTION_ROUNDS = [
  'test/resend.e2e.test.ts',
  'test/resend-cluster.e2e.test.ts',
  'test/resend-cluster-options.e2e.test.ts',
  'test/resend-ends.e2e.test.ts',
];

/**
 * `TRPC_SESSION_IOREDIS=6` runs the suite against ioredis 6 (the `ioredis6` alias dev dependency) in place of
 * ioredis 5, for the sources and the tests alike; `.ci/run` makes that second pass over the Redis-facing tests.
 */
const ioredis6 = process.env['TRPC_SESSION_IOREDIS'] === '6';

export default defineConfig({
  resolve: ioredis6 ? { alias: { ioredis: 'ioredis6' } } : {},
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'reconnection rounds',
          include: RECONNECTION_ROUNDS,
          maxWorkers: RECONNECTION_ROUNDS.length,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...RECONNECTION_ROUNDS, ...BUILDS],
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
      { extends: true, test: { name: 'builds', include: BUILDS, sequence: { groupOrder: 2 } } },
    ],
  },
});
