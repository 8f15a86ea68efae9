import { existsSync, mkdirSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, browserTestFor, runBrowser } from './helpers/chromium.js';
import { startDemo, type RunningDemo } from '../demo/server.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

/** Debian's Chromium; `.ci/run` installs it. */
const browserTest = browserTestFor("the demo's browser tests");
const COOKIE = 'basket_sid';
const SCREENSHOT = 'test-artifacts/demo-basket.png';

let redis: RedisServer;
let inspect: Redis;
let demo: RunningDemo;
let browser: Browser;
/** Console errors and uncaught page errors of every page opened by the current test. */
let problems: string[] = [];
/** Console errors the current test causes on purpose (Chromium logs every 4xx response as one). */
let expectedProblems: RegExp[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!runBrowser) return;
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; install Debian's package: apt-get install chromium`);
  redis = await startRedis();
  inspect = redis.client();
  demo = await startDemo({ port: 0, redisUrl: redis.url });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterEach(async () => {
  if (!runBrowser) return;
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  const seen = problems.filter((problem) => !expectedProblems.some((expected) => expected.test(problem)));
  problems = [];
  expectedProblems = [];
  expect(seen, 'console errors and page errors').toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  inspect?.disconnect();
  await redis?.stop(true);
});

const DESKTOP = { width: 1180, height: 640 };
/** An iPhone 12 to 15's CSS viewport. */
const PHONE = { width: 390, height: 844 };

/** A fresh browser profile (its own cookies) with the demo page open and loaded. */
async function openDemo(viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  context.setDefaultTimeout(10_000);
  return { context, page: await openTab(context) };
}

/** Another tab of the same browser profile, sharing its cookies. */
async function openTab(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
  await page.goto(demo.url);
  await loaded(page);
  return page;
}

/** How many sessions the store holds. */
const sessionCount = async () => (await inspect.keys('session:*')).length;

/** Waits for the page's first render: the products and the user come in with the basket. */
async function loaded(page: Page): Promise<void> {
  await page.getByTestId('products').getByRole('listitem').first().waitFor();
}

/** Waits until `locator`'s text is exactly `text`. */
async function textIs(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).waitFor();
}

const add = (page: Page, product: string) => page.getByRole('button', { name: `Add ${product} to basket` }).click();
const row = (page: Page, productId: string) => page.getByTestId(`basket-item-${productId}`);
const quantity = (page: Page, productId: string) => row(page, productId).getByTestId('quantity');

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies()).find((cookie) => cookie.name === COOKIE);
}

/** The session ID prefix the page shows, once it shows one. */
async function shownSessionPrefix(page: Page): Promise<string> {
  const tag = page.getByTestId('session-id');
  await tag.filter({ hasNotText: 'none' }).waitFor();
  return (await tag.textContent())!.replace('…', '');
}

browserTest('the basket survives a reload; the session cookie is HttpOnly and SameSite=Lax', async () => {
  const { context, page } = await openDemo();
  await page.getByTestId('basket-empty').waitFor();
  expect(await sessionCookie(context), 'merely looking creates no session').toBeUndefined();

  await add(page, 'Espresso beans');
  await textIs(quantity(page, 'beans'), '1');
  await add(page, 'Espresso beans');
  await add(page, 'Stoneware mug');
  await textIs(quantity(page, 'mug'), '1');
  await textIs(quantity(page, 'beans'), '2');
  await textIs(page.getByTestId('basket-total'), '€49.00');

  await page.reload();
  await loaded(page);
  await textIs(quantity(page, 'beans'), '2');
  await textIs(quantity(page, 'mug'), '1');
  await textIs(page.getByTestId('basket-total'), '€49.00');

  const cookie = await sessionCookie(context);
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
  expect(await shownSessionPrefix(page)).toBe(cookie!.value.slice(0, 6));
  expect(await inspect.exists(`session:${cookie!.value}`)).toBe(1);
});

browserTest('the quantity buttons and Remove change the basket', async () => {
  const { page } = await openDemo();
  await add(page, 'Hand grinder');
  await add(page, 'Paper filters');
  await textIs(quantity(page, 'filters'), '1');

  await page.getByRole('button', { name: 'Increase quantity of Paper filters' }).click();
  await textIs(quantity(page, 'filters'), '2');
  await page.getByRole('button', { name: 'Increase quantity of Paper filters' }).click();
  await textIs(quantity(page, 'filters'), '3');
  await page.getByRole('button', { name: 'Decrease quantity of Paper filters' }).click();
  await textIs(quantity(page, 'filters'), '2');
  await textIs(page.getByTestId('basket-total'), '€73.00');

  await page.getByRole('button', { name: 'Remove Hand grinder' }).click();
  await row(page, 'grinder').waitFor({ state: 'detached' });
  await textIs(page.getByTestId('basket-total'), '€9.00');

  await page.reload();
  await loaded(page);
  await textIs(quantity(page, 'filters'), '2');
  expect(await row(page, 'grinder').count()).toBe(0);
});

browserTest('a second browser has its own, empty basket', async () => {
  const first = await openDemo();
  await add(first.page, 'Pour-over kettle');
  await textIs(quantity(first.page, 'kettle'), '1');

  const second = await openDemo();
  await second.page.getByTestId('basket-empty').waitFor();
  expect(await second.page.getByTestId('basket').isVisible()).toBe(false);
  await textIs(second.page.getByTestId('session-id'), 'none');
  expect(await sessionCookie(second.context)).toBeUndefined();

  await add(second.page, 'Stoneware mug');
  await textIs(quantity(second.page, 'mug'), '1');
  expect((await sessionCookie(second.context))!.value).not.toBe((await sessionCookie(first.context))!.value);
  await first.page.reload();
  await loaded(first.page);
  await textIs(quantity(first.page, 'kettle'), '1');
  expect(await row(first.page, 'mug').count()).toBe(0);
});

browserTest('login gives the session a new ID and keeps the basket; logout empties it', async () => {
  const { context, page } = await openDemo();
  await add(page, 'Espresso beans');
  await add(page, 'Hand grinder');
  await add(page, 'Stoneware mug');
  await textIs(quantity(page, 'mug'), '1');
  await page.getByRole('button', { name: 'Increase quantity of Stoneware mug' }).click();
  await textIs(quantity(page, 'mug'), '2');
  const guestId = (await sessionCookie(context))!.value;
  expect(await shownSessionPrefix(page)).toBe(guestId.slice(0, 6));

  await page.getByLabel('Name').fill('Ada');
  await page.getByRole('button', { name: 'Log in' }).click();
  await textIs(page.getByTestId('user-name'), 'Signed in as Ada');
  // The greeting is a flash message: set at login, taken by the page's next request, shown once.
  await textIs(page.getByTestId('notice'), 'Welcome back, Ada');
  const userId = (await sessionCookie(context))!.value;
  expect(userId).not.toBe(guestId);
  expect(await shownSessionPrefix(page)).toBe(userId.slice(0, 6));
  // The old ID is gone from Redis: whoever knew it (session fixation) has nothing.
  expect(await inspect.type(`session:${guestId}`)).toBe('string'); // no record: only the moved mark
  expect(await inspect.exists(`session:${userId}`)).toBe(1);

  await page.reload();
  await loaded(page);
  await textIs(page.getByTestId('user-name'), 'Signed in as Ada');
  expect(await page.getByTestId('notice').isHidden()).toBe(true);
  await textIs(quantity(page, 'mug'), '2');
  await textIs(quantity(page, 'beans'), '1');
  await textIs(quantity(page, 'grinder'), '1');
  await textIs(page.getByTestId('basket-total'), '€106.50');
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByTestId('basket-empty').waitFor();
  await textIs(page.getByTestId('user-name'), 'Guest');
  await textIs(page.getByTestId('session-id'), 'none');
  expect(await sessionCookie(context)).toBeUndefined();
  // No record: in its place, for 10 seconds, the revoked mark naming the logout (a resent removal answers by it).
  expect(await inspect.get(`session:${userId}`)).toMatch(/^trpc-session:revoked\n/);

  await page.reload();
  await loaded(page);
  await page.getByTestId('basket-empty').waitFor();
  await textIs(page.getByTestId('user-name'), 'Guest');
});

browserTest('"Remember me" keeps the cookie 30 days; without it, the cookie ends with the browser', async () => {
  const remembered = await openDemo();
  await remembered.page.getByLabel('Name').fill('Ada');
  await remembered.page.getByLabel('Remember me').check();
  await remembered.page.getByRole('button', { name: 'Log in' }).click();
  await textIs(remembered.page.getByTestId('user-name'), 'Signed in as Ada');
  const days = ((await sessionCookie(remembered.context))!.expires * 1000 - Date.now()) / 86_400_000;
  expect(days).toBeGreaterThan(29.9);
  expect(days).toBeLessThanOrEqual(30);

  const forgotten = await openDemo();
  await forgotten.page.getByLabel('Name').fill('Grace');
  await forgotten.page.getByRole('button', { name: 'Log in' }).click();
  await textIs(forgotten.page.getByTestId('user-name'), 'Signed in as Grace');
  expect((await sessionCookie(forgotten.context))!.expires, 'a session cookie (-1: no Max-Age, no Expires)').toBe(-1);
});

browserTest('"Your devices" lists both browsers of a user; "Log out other devices" ends the other one', async () => {
  const [laptop, phone] = [await openDemo(), await openDemo(PHONE)];
  for (const { page } of [laptop, phone]) {
    await page.getByLabel('Name').fill('Hopper');
    await page.getByRole('button', { name: 'Log in' }).click();
    await textIs(page.getByTestId('user-name'), 'Signed in as Hopper');
  }
  await laptop.page.reload();
  await loaded(laptop.page);
  await textIs(laptop.page.getByTestId('device-current'), 'Chrome on Linux · this device');
  await expect.poll(() => laptop.page.getByTestId('device').count()).toBe(1);

  await laptop.page.getByRole('button', { name: 'Log out other devices' }).click();
  await expect.poll(() => laptop.page.getByTestId('device').count()).toBe(0);
  expect(await laptop.page.getByRole('button', { name: 'Log out other devices' }).isVisible()).toBe(false);
  await phone.page.reload();
  await loaded(phone.page);
  await textIs(phone.page.getByTestId('user-name'), 'Guest');
  await textIs(laptop.page.getByTestId('user-name'), 'Signed in as Hopper');
});

browserTest('two quick clicks on "+" add two, however fast they come', async () => {
  const { page } = await openDemo();
  await add(page, 'Paper filters');
  await textIs(quantity(page, 'filters'), '1');
  await page.getByRole('button', { name: 'Increase quantity of Paper filters' }).dblclick();
  await textIs(quantity(page, 'filters'), '3');
  await textIs(page.getByTestId('basket-count'), '3');
  await page.reload();
  await loaded(page);
  await textIs(quantity(page, 'filters'), '3');
});

browserTest('after logging out in one tab, "+" in another says the basket ended and creates no session', async () => {
  const { context, page: first } = await openDemo();
  await add(first, 'Stoneware mug');
  await first.getByLabel('Name').fill('Grace');
  await first.getByRole('button', { name: 'Log in' }).click();
  await textIs(first.getByTestId('user-name'), 'Signed in as Grace');
  const second = await openTab(context);
  await textIs(quantity(second, 'mug'), '1');

  await first.getByRole('button', { name: 'Log out', exact: true }).click();
  await textIs(first.getByTestId('user-name'), 'Guest');
  const before = await sessionCount();
  expectedProblems = [/status of 412/];
  await second.getByRole('button', { name: 'Increase quantity of Stoneware mug' }).click();
  await textIs(second.getByTestId('error'), 'This basket has ended (logged out in another tab, or expired). The page now shows the current one.');
  await second.getByTestId('basket-empty').waitFor();
  await textIs(second.getByTestId('user-name'), 'Guest');
  expect(await sessionCookie(context), 'no new session cookie').toBeUndefined();
  expect(await sessionCount(), 'no new session in the store').toBe(before);
});

browserTest('a blank name gets a sentence, not zod\'s JSON', async () => {
  const { context, page } = await openDemo();
  expectedProblems = [/status of 400/];
  await page.getByLabel('Name').fill('   ');
  await page.getByRole('button', { name: 'Log in' }).click();
  await textIs(page.getByTestId('error'), 'Type your name to log in.');
  await textIs(page.getByTestId('user-name'), 'Guest');
  expect(await sessionCookie(context)).toBeUndefined();
});

browserTest('the session panel shows the session as the server holds it: ID prefix, fields, time to expiry', async () => {
  const { context, page } = await openDemo();
  await page.getByTestId('session-none').waitFor();
  await add(page, 'Espresso beans');
  await page.getByTestId('session-details').waitFor();
  const cookie = (await sessionCookie(context))!;
  await textIs(page.getByTestId('session-prefix'), `${cookie.value.slice(0, 6)}…`);
  await textIs(page.getByTestId('session-fields'), 'basket: [\n{productId: "beans", quantity: 1, unitPriceCents: 1850}\n]');
  // A week unused; the countdown shows its two largest units.
  expect(await page.getByTestId('session-expiry').textContent()).toMatch(/^(7 d 0 h|6 d 23 h)$/);
});

browserTest('at 390 px the header fits on its lines and the basket count stays in view while scrolling', async () => {
  const { page } = await openDemo(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'no sideways scrolling').toBe(0);
  const logIn = page.getByRole('button', { name: 'Log in' });
  const fontSize = await logIn.evaluate((element) => parseFloat(getComputedStyle(element).fontSize));
  // One line of text and the padding is about 2.2 font sizes tall; a wrapped label would be about 3.5.
  expect((await logIn.boundingBox())!.height, '"Log in" stays on one line').toBeLessThan(fontSize * 3);
  await page.getByRole('button', { name: 'Add Paper filters to basket' }).scrollIntoViewIfNeeded();
  await add(page, 'Paper filters');
  await textIs(page.getByTestId('basket-count'), '1');
  const count = (await page.getByTestId('basket-count').boundingBox())!;
  expect(count.y, 'the count is on screen after scrolling to the last product').toBeGreaterThanOrEqual(0);
  expect(count.y + count.height).toBeLessThanOrEqual(PHONE.height);
  await page.screenshot({ path: 'test-artifacts/demo-basket-phone.png' });
});
