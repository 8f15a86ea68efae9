import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from './server.js';

export const api = createTRPCClient<AppRouter>({
  links: [
    httpBatchLink({
      url: 'https://api.example.com/trpc',
      // Only for an API on another origin: send its cookies along (the server must allow it: see Cross-origin clients).
      fetch: (url, options) => fetch(url, { ...options, credentials: 'include' }),
    }),
  ],
});

export async function buyBeans() {
  await api.addToCart.mutate({ productId: 'beans', quantity: 1 }); // the first call sets the session cookie
  return api.cart.query(); // the browser sends it back with every later call
}
