'use client';
import { createTRPCClient, httpBatchStreamLink } from '@trpc/client';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import superjson from 'superjson';
import type { AppRouter } from '../server/router';

const trpc = createTRPCClient<AppRouter>({ links: [httpBatchStreamLink({ url: '/api/trpc', transformer: superjson })] });

/** Adds one more over the stream link, then has the server component render the basket again. */
export function MoreButton({ productId }: { productId: string }) {
  const router = useRouter();
  return (
    <button type="button" onClick={() => void trpc.add.mutate(productId).then(() => router.refresh())}>
      One more {productId}
    </button>
  );
}

/** The basket as the tRPC API returns it, fetched on demand. */
export function ApiBasket() {
  const [shown, setShown] = useState('not loaded');
  const load = async () => {
    const basket = await trpc.basket.query();
    setShown(basket.items.map((item) => `${item.productId}×${item.quantity}`).join(', ') || 'empty');
  };
  return (
    <p>
      <button type="button" onClick={() => void load()}>
        Load from the API
      </button>{' '}
      <span data-testid="api-basket">{shown}</span>
    </p>
  );
}
