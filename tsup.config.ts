import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry per framework adapter, so the main entry's types never name fastify or ws.
  entry: {
    index: 'src/index.ts',
    fastify: 'src/adapters/fastify.ts',
    fetch: 'src/adapters/fetch.ts',
    next: 'src/adapters/next.ts',
    ws: 'src/adapters/ws.ts',
    // The store contract suite, for authors of stores: kept out of the main entry.
    testing: 'src/testing.ts',
  },
  format: ['esm', 'cjs'],
  // Shared chunks in both formats, so every entry uses the same classes (instanceof works across them).
  splitting: true,
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
