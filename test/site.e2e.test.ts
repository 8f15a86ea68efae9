import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, browserTestFor, runBrowser } from './helpers/chromium.js';
import { listen, type Served } from './helpers/http.js';

/**
 * The documentation site, as its readers get it: built by VitePress (a dead link fails the build), served
 * under its base path by a plain static server, and read in Chromium: every page the site links to, every
 * anchor, every image, the search box, and the Quick start's code against the example file the suite runs.
 */
const root = resolve(import.meta.dirname, '..');
const browserTest = browserTestFor("the documentation site's browser tests");
const homepage = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { homepage: string }).homepage;
const base = new URL(homepage).pathname;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

let out: string;
let site: Served;
let browser: Browser | undefined;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'trpc-session-site-'));
  const printed = await new Promise<{ code: number; text: string }>((done) =>
    execFile(join(root, 'node_modules', '.bin', 'vitepress'), ['build', 'docs', '--outDir', out], { cwd: root, encoding: 'utf8' }, (error, stdout, stderr) =>
      done({ code: error === null ? 0 : Number(error.code ?? 1), text: stdout + stderr }),
    ),
  );
  if (printed.code !== 0) throw new Error(`vitepress build failed:\n${printed.text}`);
  site = await listen(
    createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://site').pathname);
      if (!path.startsWith(base)) return void res.writeHead(404).end();
      let file = normalize(join(out, path.slice(base.length)));
      if (!file.startsWith(out)) return void res.writeHead(404).end();
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
      if (!existsSync(file)) return void res.writeHead(404, { 'content-type': 'text/html' }).end(readFileSync(join(out, '404.html')));
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    }),
  );
  if (runBrowser) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

/** A browser tab that collects what the console and the page report as errors, since the last `visit`. */
async function tab() {
  const page = await browser!.newPage();
  let errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return {
    page,
    errors: () => errors,
    async visit(url: string): Promise<number | undefined> {
      errors = [];
      const response = await page.goto(url, { waitUntil: 'load' });
      // Once the page's scripts have run: the theme hydrates it, and an error there is reported by now.
      await page.locator('#app .VPContent').waitFor();
      return response?.status();
    },
  };
}

/** Opens `url` in a tab of its own. */
async function open(url: string) {
  const opened = await tab();
  await opened.visit(url);
  return { page: opened.page, errors: opened.errors() };
}

describe('the documentation site', () => {
  browserTest(
    'every page the site links to renders without an error, and every internal link, anchor and image resolves',
    async () => {
      const start = `${site.url}${base}`;
      const queue = [start];
      const seen = new Set(queue);
      const problems: string[] = [];
      /** The element IDs of each page read, and the anchors links point at: checked once every page is read. */
      const idsOf = new Map<string, Set<string>>();
      const anchors: { from: string; page: string; id: string }[] = [];
      // The README's links into the site (it is what npm shows) are read like the site's own.
      for (const [link] of readFileSync(join(root, 'README.md'), 'utf8').matchAll(new RegExp(`${homepage.replace(/[.]/g, '\\.')}[^)(\\]#\\s]*(#[^)\\s]+)?`, 'g'))) {
        const target = new URL(link.replace(homepage, `${site.url}${base}`));
        const id = decodeURIComponent(target.hash.slice(1));
        target.hash = '';
        if (id !== '') anchors.push({ from: 'README.md', page: target.href, id });
        if (!seen.has(target.href)) {
          seen.add(target.href);
          queue.push(target.href);
        }
      }
      /** Reads one page: its errors, anchors and images, and queues the pages it links to. */
      const read = async ({ page, visit, errors }: Awaited<ReturnType<typeof tab>>, url: string) => {
        const status = await visit(url);
        if (status !== 200) problems.push(`${url}: HTTP ${status}`);
        if ((await page.locator('h1').count()) === 0) problems.push(`${url}: no heading rendered`);
        const broken = await page.$$eval('img', (images) => images.filter((image) => !image.complete || image.naturalWidth === 0).map((image) => image.src));
        for (const image of broken) problems.push(`${url}: image ${image} did not load`);
        idsOf.set(url, new Set(await page.$$eval('[id]', (elements) => elements.map((element) => element.id))));
        const links = await page.$$eval('a[href]', (elements) => elements.map((element) => (element as HTMLAnchorElement).href));
        for (const link of links) {
          const target = new URL(link);
          if (target.origin !== site.url) continue;
          const id = decodeURIComponent(target.hash.slice(1));
          target.hash = '';
          if (id !== '') anchors.push({ from: url, page: target.href, id });
          if (!seen.has(target.href)) {
            seen.add(target.href);
            queue.push(target.href);
          }
        }
        for (const error of errors()) problems.push(`${url}: console error: ${error}`);
      };
      // A few pages at a time; a worker whose queue is empty waits while the others may still add to it.
      let reading = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const reader = await tab();
          for (;;) {
            const url = queue.shift();
            if (url === undefined) {
              if (reading === 0) return reader.page.close();
              await new Promise((done) => setTimeout(done, 20));
              continue;
            }
            reading++;
            await read(reader, url).finally(() => reading--);
          }
        }),
      );
      for (const { from, page, id } of anchors) if (!idsOf.get(page)?.has(id)) problems.push(`${from}: links to ${page}#${id}, which has no such anchor`);
      expect(problems).toEqual([]);
      // The crawl reached the guides and both parts of the reference.
      const paths = [...seen].map((url) => new URL(url).pathname.slice(base.length));
      expect(paths).toEqual(
        expect.arrayContaining([
          'guide/getting-started.html',
          'guide/nextjs.html',
          'guide/production.html',
          'guide/troubleshooting.html',
          'guide/migrating.html',
          'reference.html',
          'api/index/functions/createSessionManager.html',
          'api/index/interfaces/SessionStore.html',
          'api/testing/functions/storeContractCases.html',
        ]),
      );
    },
    300_000,
  );

  browserTest('the search box finds "remember me" in the Remember me guide', async () => {
    const { page, errors } = await open(`${site.url}${base}`);
    await page.getByRole('button', { name: /search/i }).first().click();
    await page.getByPlaceholder(/search/i).fill('remember me');
    const result = page.locator('.VPLocalSearchBox a[href*="guide/remember-me"]').first();
    await result.waitFor();
    expect(await result.textContent()).toMatch(/remember me/i);
    expect(errors).toEqual([]);
    await page.close();
  });

  browserTest("the Quick start's code is examples/server.ts, the file the suite runs", async () => {
    const { page } = await open(`${site.url}${base}guide/getting-started.html`);
    // The first code block after the Quick start heading.
    const code = await page.evaluate(() => {
      let element = document.getElementById('quick-start')?.nextElementSibling ?? null;
      while (element !== null && !element.matches('div[class*="language-"]')) element = element.nextElementSibling;
      return element?.querySelector('pre code')?.textContent ?? null;
    });
    expect(code).toBe(readFileSync(join(root, 'examples', 'server.ts'), 'utf8').replace(/\n$/, ''));
    await page.close();
  });
});
