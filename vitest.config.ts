import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files that build (tsup, `next build`) and start other runtimes: CPU-heavy for a minute or two. They run
 * after the rest of the suite, so they never slow its timing-sensitive tests (outages, load) on a small host.
 */
const BUILDS = ['test/next.e2e.test.ts', 'test/runtimes.e2e.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...BUILDS],
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'builds', include: BUILDS, sequence: { groupOrder: 1 } } },
    ],
  },
});
