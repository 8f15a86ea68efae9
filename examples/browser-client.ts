import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from './server.js';

export const api = createTRPCClient<AppRouter>({
  links: [
    httpBatchLink({
      url: 'https://api.example.com/trpc',
      // Only for an API on another origin: send its cookies along (the server must allow it, see below).
      fetch: (url, options) => fetch(url, { ...options, credentials: 'include' }),
    }),
  ],
});

// One HTTP request for both calls: the server loads the session once.
export async function showCart() {
  const [cart] = await Promise.all([api.cart.query(), api.addToCart.mutate({ productId: 'beans', quantity: 1 })]);
  return cart;
}
