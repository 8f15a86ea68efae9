import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
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
 * What went wrong, in words for people: the first message of a rejected input (tRPC sends zod's issues as
 * JSON), or the server's own message.
 */
function explain(error: unknown): string {
  if (!(error instanceof TRPCClientError)) return String((error as Error).message);
  if (error.data === undefined) return 'The shop could not be reached. Check your connection and try again.';
  if (error.data?.code === 'BAD_REQUEST') {
    try {
      const issues = JSON.parse(error.message) as { message: string }[];
      if (issues[0] !== undefined) return issues[0].message;
    } catch {
      // not zod's issues: the message is already a sentence
    }
  }
  return error.message;
}

/**
 * Runs a call after the ones before it, showing its failure on the page instead of leaving it unhandled.
 * One at a time, so quick clicks are sent and drawn in order and the last answer drawn is the newest. After a
 * failure the page redraws from the server, so it never keeps showing a basket that is gone.
 */
function run(action: () => Promise<unknown>): void {
  const banner = byTestId('error');
  queue = queue.then(async () => {
    try {
      await action();
      banner.hidden = true;
    } catch (error) {
      banner.textContent = explain(error);
      banner.hidden = false;
      if (error instanceof TRPCClientError && error.data?.code === 'PRECONDITION_FAILED') await refresh().catch(() => undefined);
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
      // Relative changes: each click adds or takes one from what the server holds, however quickly they come.
      const change = (by: 1 | -1) => async () => renderPage(await api.changeQuantity.mutate({ productId: item.productId, by }));
      const decrease = button('−', `Decrease quantity of ${item.name}`, change(-1), 'step');
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
            button('+', `Increase quantity of ${item.name}`, change(1), 'step'),
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
  const count = basket.items.reduce((sum, item) => sum + item.quantity, 0);
  byTestId('basket-count').textContent = String(count);
  byTestId('basket-link').setAttribute('aria-label', `Basket: ${count} ${count === 1 ? 'item' : 'items'}`);
}

let expiresAt: number | null = null;

/** "6 d 23 h", "59 min 58 s": the time left, to the two largest units. */
function formatDuration(ms: number): string {
  const units: [string, number][] = [['d', 86_400], ['h', 3600], ['min', 60], ['s', 1]];
  let seconds = Math.max(0, Math.round(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (parts.length === 2) break;
    const amount = Math.floor(seconds / size);
    seconds -= amount * size;
    if (amount > 0 || parts.length > 0 || unit === 's') parts.push(`${amount} ${unit}`);
  }
  return parts.join(' ');
}

function renderExpiry() {
  byTestId('session-expiry').textContent = expiresAt === null ? '' : formatDuration(expiresAt - Date.now());
}

/** The session as the server holds it: what the cookie's ID opens, in Redis or in memory. */
function renderSession(session: Outputs['session'], idPrefix: string | null) {
  byTestId('session-none').hidden = session !== null;
  byTestId('session-details').hidden = session === null;
  expiresAt = session === null ? null : Date.parse(session.expiresAt);
  if (session === null) return;
  byTestId('session-prefix').textContent = `${idPrefix ?? ''}…`;
  // One line a field, and one a basket line, keys unquoted: compact enough to read at a glance, and to wrap
  // between properties on a narrow screen.
  const shown = (value: unknown) => JSON.stringify(value).replace(/"(\w+)":/g, '$1: ').replace(/,(?=\w+: )/g, ', ');
  byTestId('session-fields').textContent = Object.entries(session.fields)
    .map(([key, value]) => (Array.isArray(value) ? `${key}: [\n${value.map(shown).join(',\n')}\n]` : `${key}: ${shown(value)}`))
    .join('\n');
  renderExpiry();
}
setInterval(renderExpiry, 1000);

function renderWhoami(who: Outputs['whoami']) {
  byTestId('user-name').textContent = who.userId === null ? 'Guest' : `Signed in as ${who.userId}`;
  byTestId('session-id').textContent = who.sessionIdPrefix === null ? 'none' : `${who.sessionIdPrefix}…`;
  byTestId('login-form').hidden = who.userId !== null;
  byTestId('logout').hidden = who.userId === null;
}

/** "Chrome on Linux": enough of a User-Agent to recognise a device by. */
function describeBrowser(userAgent: string | null): string {
  if (userAgent === null) return 'Unknown browser';
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Firefox\//.test(userAgent) ? 'Firefox' : /Chrome\//.test(userAgent) ? 'Chrome' : /Safari\//.test(userAgent) ? 'Safari' : 'A browser';
  const system = /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Windows/.test(userAgent) ? 'Windows' : /Mac OS X/.test(userAgent) ? 'macOS' : /Linux/.test(userAgent) ? 'Linux' : null;
  return system === null ? browser : `${browser} on ${system}`;
}

/** The logged-in user's sessions, this one marked; "Log out other devices" when there are others. */
function renderDevices(devices: Outputs['devices']) {
  byTestId('devices').hidden = devices.length === 0;
  byTestId('device-list').replaceChildren(
    ...devices.map((device) =>
      h(
        'li',
        { 'data-testid': device.current ? 'device-current' : 'device' },
        describeBrowser(device.userAgent),
        h('span', { class: 'muted small' }, device.current ? ' · this device' : ` · last used ${new Date(device.lastUsedAt).toLocaleString('en-IE')}`),
      ),
    ),
  );
  byTestId('logout-others').hidden = devices.length < 2;
}

async function refreshDevices() {
  renderDevices(await api.devices.query());
}

/** The flash message the server handed over (once), or none. */
function renderNotice(notice: Outputs['notice']) {
  const element = byTestId('notice');
  element.textContent = notice ?? '';
  element.hidden = notice === null;
}

function renderPage(view: Outputs['add']) {
  renderBasket(view.basket);
  renderWhoami(view.whoami);
  renderSession(view.session, view.whoami.sessionIdPrefix);
}

/** Products, basket, user and session in one batched HTTP request, so the server loads the session once. */
async function refresh() {
  const [products, basket, whoami, session, devices, notice] = await Promise.all([
    api.products.query(),
    api.basket.query(),
    api.whoami.query(),
    api.session.query(),
    api.devices.query(),
    api.notice.query(),
  ]);
  renderProducts(products);
  renderPage({ basket, whoami, session });
  renderDevices(devices);
  renderNotice(notice);
}

byTestId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const fields = new FormData(form);
  const name = String(fields.get('name') ?? '');
  const remember = fields.get('remember') !== null;
  run(async () => {
    renderPage(await api.login.mutate({ name, remember }));
    renderNotice(await api.notice.query());
    form.reset();
    await refreshDevices();
  });
});

byTestId('logout').addEventListener('click', () =>
  run(async () => {
    renderPage(await api.logout.mutate());
    renderDevices([]);
    renderNotice(null);
  }),
);

byTestId('logout-others').addEventListener('click', () =>
  run(async () => {
    await api.logoutOtherDevices.mutate();
    await refreshDevices();
  }),
);

run(refresh);
