import { cookies } from 'next/headers';
import { nextRenderContext } from 'trpc-session/next';
import { createCaller } from '../server/router';
import { sessions } from '../server/sessions';
import { addToBasket, logIn, logOut } from './actions';
import { ApiBasket, MoreButton } from './basket-client';

const PRODUCTS = ['beans', 'mug', 'grinder'];

export default async function Page() {
  // A server component cannot set cookies: its caller reads (and may change) an existing session only.
  const caller = createCaller(nextRenderContext(sessions, await cookies()));
  const basket = await caller.basket();
  return (
    <main>
      <p data-testid="user">{basket.userId ? `Signed in as ${basket.userId}` : 'Guest'}</p>
      <p data-testid="ref">{basket.ref ?? 'none'}</p>
      {PRODUCTS.map((productId) => (
        <form key={productId} action={addToBasket.bind(null, productId)}>
          <button type="submit">Add {productId}</button>
        </form>
      ))}
      <ul data-testid="basket">
        {basket.items.map((item) => (
          <li key={item.productId} data-testid={`line-${item.productId}`}>
            {item.productId}: <span data-testid="quantity">{item.quantity}</span> <MoreButton productId={item.productId} />
          </li>
        ))}
      </ul>
      {basket.userId ? (
        <form action={logOut}>
          <button type="submit">Log out</button>
        </form>
      ) : (
        <form action={logIn}>
          <input name="name" aria-label="Name" />
          <button type="submit">Log in</button>
        </form>
      )}
      <ApiBasket />
    </main>
  );
}
