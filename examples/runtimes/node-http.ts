// node:http, under Node, Bun (`bun run node-http.ts`) or Deno (`deno run --allow-net --allow-env --allow-read --allow-sys node-http.ts`)
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { router, sessions } from './app.ts';

// basePath: tRPC's standalone server reads the procedure from the whole path; this serves it at /trpc/…
const server = createHTTPServer({ router, createContext: sessions.createContext, basePath: '/trpc/' });
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`listening on http://127.0.0.1:${port}/trpc`);
});

// Graceful shutdown: stop taking requests, then close the sessions' Redis connection.
process.on('SIGTERM', () => {
  server.close(async () => {
    await sessions.close();
    process.exit(0);
  });
  server.closeAllConnections();
});
