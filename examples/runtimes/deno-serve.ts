// Deno: `deno run --allow-net --allow-env --allow-read --allow-sys deno-serve.ts`
import { fetchSessionHandler } from 'trpc-session/fetch';
import { router, sessions } from './app.ts';

const server = Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.env.get('PORT') ?? 3000),
    onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/trpc`),
  },
  (req) => fetchSessionHandler(sessions, { endpoint: '/trpc', req, router }),
);

// Graceful shutdown: stop taking requests, then close the sessions' Redis connection, whose open socket
// would otherwise keep the process alive.
Deno.addSignalListener('SIGTERM', async () => {
  await server.shutdown();
  await sessions.close();
  Deno.exit(0);
});
