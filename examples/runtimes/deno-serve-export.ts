// Deno: `deno serve --allow-net --allow-env --allow-read --allow-sys deno-serve-export.ts`
import { fetchSessionHandler } from 'trpc-session/fetch';
import { router, sessions } from './app.ts';

// Graceful shutdown: `deno serve` owns the server; the sessions' Redis connection is the app's to close, or
// its open socket keeps the process alive after SIGTERM.
Deno.addSignalListener('SIGTERM', async () => {
  await sessions.close();
  Deno.exit(0);
});

export default {
  fetch: (req) => fetchSessionHandler(sessions, { endpoint: '/trpc', req, router }),
} satisfies Deno.ServeDefaultExport;
