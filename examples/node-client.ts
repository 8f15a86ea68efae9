import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from './server.js';

/** The cookies the server has set, by name: what a browser would send back. */
const jar = new Map<string, string>();

const api = createTRPCClient<AppRouter>({
  links: [
    httpBatchLink({
      url: process.env.API_URL ?? 'http://127.0.0.1:3000/trpc',
      headers: () => (jar.size === 0 ? {} : { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') }),
      fetch: async (url, options) => {
        const response = await fetch(url, options);
        for (const setCookie of response.headers.getSetCookie()) {
          const [pair = '', ...attributes] = setCookie.split(';');
          const [name = '', value = ''] = pair.trim().split(/=(.*)/);
          const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
          if (expired) jar.delete(name);
          else jar.set(name, value);
        }
        return response;
      },
    }),
  ],
});

async function main() {
  await api.addToCart.mutate({ productId: 'beans', quantity: 2 });
  await api.login.mutate('ada'); // a new session ID in the jar, the same cart
  console.log(JSON.stringify(await api.cart.query())); // [{"productId":"beans","quantity":2}]
  await api.logout.mutate(); // the cookie is expired, and leaves the jar
  console.log(JSON.stringify(await api.cart.query())); // []
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
