import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '../router.js';

type Outputs = inferRouterOutputs<AppRouter>;

// Same origin: the browser sends the session cookie with every call, and the page never sees it (HttpOnly).
const api = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: '/trpc' })] });

const money = new Intl.NumberFormat('en-IE', { style: 'currency', currency: 'EUR' });
const formatCents = (cents: number) => money.format(cents / 100);

function byTestId<T extends HTMLElement>(id: string): T {
  const element = document.querySelector<T>(`[data-testid="${id}"]`);
  if (element === null) throw new Error(`The page has no [data-testid="${id}"]`);
  return element;
}

/** A new element with text and attributes; text goes in as text, never as HTML. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function button(label: string, ariaLabel: string, onClick: () => Promise<unknown>, className = '') {
  const element = h('button', { type: 'button', 'aria-label': ariaLabel, class: className }, label);
  element.addEventListener('click', () => run(onClick));
  return element;
}

let queue: Promise<void> = Promise.resolve();

/**
 * Runs a call after the ones before it, showing its failure on the page instead of leaving it unhandled.
 * One at a time, so quick clicks are sent and drawn in order and the last answer drawn is the newest.
 */
function run(action: () => Promise<unknown>): void {
  const banner = byTestId('error');
  queue = queue.then(async () => {
    try {
      await action();
      banner.hidden = true;
    } catch (error) {
      banner.textContent = `Something went wrong: ${(error as Error).message}`;
      banner.hidden = false;
    }
  });
}

function renderProducts(products: Outputs['products']) {
  byTestId('products').replaceChildren(
    ...products.map((product) =>
      h(
        'li',
        { 'data-testid': `product-${product.id}`, class: 'product' },
        h('div', { class: `swatch swatch-${product.id}`, 'aria-hidden': 'true' }),
        h('h3', {}, product.name),
        h('p', { class: 'muted' }, product.description),
        h(
          'div',
          { class: 'product-foot' },
          h('span', { class: 'price' }, formatCents(product.priceCents)),
          button('Add', `Add ${product.name} to basket`, async () => renderPage(await api.add.mutate({ productId: product.id }))),
        ),
      ),
    ),
  );
}

function renderBasket(basket: Outputs['basket']) {
  const table = byTestId<HTMLTableElement>('basket');
  byTestId('basket-empty').hidden = basket.items.length > 0;
  table.hidden = basket.items.length === 0;
  table.tBodies[0]!.replaceChildren(
    ...basket.items.map((item) => {
      const setQuantity = (quantity: number) => async () =>
        renderPage(await api.setQuantity.mutate({ productId: item.productId, quantity }));
      const decrease = button('−', `Decrease quantity of ${item.name}`, setQuantity(item.quantity - 1), 'step');
      decrease.toggleAttribute('disabled', item.quantity <= 1);
      return h(
        'tr',
        { 'data-testid': `basket-item-${item.productId}` },
        h('td', {}, item.name, h('div', { class: 'muted small' }, `${formatCents(item.unitPriceCents)} each`)),
        h(
          'td',
          {},
          h(
            'div',
            { class: 'stepper' },
            decrease,
            h('span', { 'data-testid': 'quantity', class: 'quantity' }, String(item.quantity)),
            button('+', `Increase quantity of ${item.name}`, setQuantity(item.quantity + 1), 'step'),
          ),
        ),
        h('td', { class: 'num' }, formatCents(item.lineCents)),
        h(
          'td',
          { class: 'num' },
          button('Remove', `Remove ${item.name}`, async () => renderPage(await api.remove.mutate({ productId: item.productId })), 'link'),
        ),
      );
    }),
  );
  byTestId('basket-total').textContent = formatCents(basket.totalCents);
}

function renderWhoami(who: Outputs['whoami']) {
  byTestId('user-name').textContent = who.userId === null ? 'Guest' : `Signed in as ${who.userId}`;
  byTestId('session-id').textContent = who.sessionIdPrefix === null ? 'none' : `${who.sessionIdPrefix}…`;
  byTestId('login-form').hidden = who.userId !== null;
  byTestId('logout').hidden = who.userId === null;
}

function renderPage(view: Outputs['add']) {
  renderBasket(view.basket);
  renderWhoami(view.whoami);
}

/** Products, basket and user in one batched HTTP request, so the server loads the session once. */
async function refresh() {
  const [products, basket, whoami] = await Promise.all([api.products.query(), api.basket.query(), api.whoami.query()]);
  renderProducts(products);
  renderPage({ basket, whoami });
}

byTestId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const name = String(new FormData(form).get('name') ?? '');
  run(async () => {
    renderPage(await api.login.mutate({ name }));
    form.reset();
  });
});

byTestId('logout').addEventListener('click', () => run(async () => renderPage(await api.logout.mutate())));

run(refresh);
