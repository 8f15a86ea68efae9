// Bun: `bun run bun-serve.ts`
import { fetchSessionHandler } from 'trpc-session/fetch';
import { router, sessions } from './app.ts';

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 3000),
  fetch: (req) => fetchSessionHandler(sessions, { endpoint: '/trpc', req, router }),
});
console.log(`listening on ${new URL('/trpc', server.url)}`);

// Graceful shutdown: stop taking requests, then close the sessions' Redis connection.
process.on('SIGTERM', async () => {
  await server.stop();
  await sessions.close();
  process.exit(0);
});
