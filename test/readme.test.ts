import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { documentationPages, README, readmeBlocks, readmeInstallPackages } from './helpers/readme.js';

const root = resolve(import.meta.dirname, '..');
/** Every code block of the README and of the documentation site's pages, with the page it is on. */
const blocks = documentationPages().flatMap((page) => readmeBlocks(readFileSync(resolve(root, page), 'utf8')).map((block) => ({ ...block, page })));

// The examples are type-checked by `tsc --noEmit` (tsconfig.json includes them) and, from the packed
// tarball in a fresh project, type-checked under three resolutions by test/package.test.ts, which runs the
// Quick start, clients, fastify and Hono ones; test/readme-examples.e2e.test.ts runs the rest from the sources,
// and test/browser-client.e2e.test.ts runs the browser client in Chromium.
test('every code block of the README and the documentation site says how the suite checks it', () => {
  const unmarked = blocks.filter((block) => !/^(example: \S+|install|not run: .+)$/.test(block.marker ?? ''));
  expect(
    unmarked.map((block) => `${block.page}:${block.line}`),
    'put <!-- example: examples/file.ts -->, <!-- install --> or <!-- not run: why --> above each block',
  ).toEqual([]);
});

test.each(blocks.filter((block) => block.marker?.startsWith('example: ')).map((block) => [block.page, block.marker!.slice('example: '.length), block] as const))(
  'the block on %s of %s is that file, verbatim',
  (page, file, block) => {
    const source = readFileSync(resolve(root, file), 'utf8');
    expect(block.code, `${page}:${block.line} differs from ${file}: copy the file into the page (or the block into the file)`).toBe(source);
  },
);

test('every example is shown in the README or a page of the site', () => {
  const shown = blocks.map((block) => block.marker).filter((marker) => marker?.startsWith('example: ')).map((marker) => marker!.slice('example: '.length));
  // examples/next and examples/runtimes are apps of their own, shown file by file; their tests run them whole.
  const files = (readdirSync(resolve(root, 'examples'), { recursive: true }) as string[])
    .filter((file) => /\.tsx?$/.test(file) && !file.endsWith('.d.ts') && !file.includes('node_modules') && !file.includes('.next'))
    .map((file) => `examples/${file}`);
  // Boilerplate the pages describe in words rather than show.
  const described = ['examples/next/next.config.ts', 'examples/next/app/layout.tsx', 'examples/runtimes/app.ts'];
  expect(files.filter((file) => !shown.includes(file) && !described.includes(file)), 'examples no page shows').toEqual([]);
});

test("the install line names the package and its peers, and the Try it commands are the README's two", () => {
  expect(readmeInstallPackages()).toEqual(['trpc-session', '@trpc/server', 'zod', 'ioredis', '@trpc/client']);
  const manifest = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { peerDependencies: object; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  // An optional peer (@opentelemetry/api, for `telemetry`) is installed by those who use it, as its option says.
  const peers = Object.keys(manifest.peerDependencies).filter((name) => !manifest.peerDependenciesMeta?.[name]?.optional);
  expect(readmeInstallPackages()).toEqual(expect.arrayContaining(peers));
  const text = readFileSync(README, 'utf8');
  expect(text).toContain('npm ci && npm run demo');
  expect(text).toContain('npm ci && npm test');
  // .ci/run runs the README's test command, `npm test`, on a fresh machine (on the newest LTS Node).
  expect(readFileSync(resolve(root, '.ci', 'run'), 'utf8')).toMatch(/^(on_node \d+ )?npm test /m);
});

test('the README opens with what it is, Install, Quick start and Client, stays short, and links where npm can follow', () => {
  const text = readFileSync(README, 'utf8');
  const headings = text.match(/^## .+$/gm)!;
  expect(headings.slice(0, 3)).toEqual(['## Install', '## Quick start', '## Client']);
  expect(text.split('\n').length).toBeLessThanOrEqual(350);
  // From npm, the README is all there is: every link is absolute, to the site or the repository.
  const { homepage, repository, bugs, keywords } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
    homepage: string;
    repository: { url: string };
    bugs: { url: string };
    keywords: string[];
  };
  // npm shows these beside the README: where the site, the code and the issues are.
  expect(homepage).toMatch(/^https:\/\/.+\/$/);
  expect(repository.url).toMatch(/^git\+https:\/\/github\.com\/.+\.git$/);
  expect(bugs.url).toBe(`${repository.url.replace(/^git\+/, '').replace(/\.git$/, '')}/issues`);
  expect(keywords).toEqual(expect.arrayContaining(['trpc', 'session', 'redis']));
  const repositoryUrl = repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  const links = [...text.matchAll(/\]\(([^)]+)\)/g)].map((match) => match[1]!);
  expect(links.filter((link) => !/^https:\/\//.test(link)), 'relative links break on npm').toEqual([]);
  expect(links.filter((link) => link.startsWith(homepage)).length).toBeGreaterThan(10);
  expect(links).toContain(`${repositoryUrl}/tree/main/examples`);
  // A link to a file of the repository names one that exists here.
  const paths = links.filter((link) => link.startsWith(`${repositoryUrl}/`)).map((link) => /^\/(?:blob|tree|raw)\/main\/(.+)$/.exec(link.slice(repositoryUrl.length))?.[1]);
  expect(paths.filter((path) => path === undefined || !existsSync(resolve(root, path))), 'links to files the repository does not have').toEqual([]);
  expect(links).toContain(`${homepage}reference.html`);
});

test("the site's links into the repository name files that exist", () => {
  const { repository } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { repository: { url: string } };
  const repositoryUrl = repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  const missing = documentationPages().flatMap((page) =>
    [...readFileSync(resolve(root, page), 'utf8').matchAll(/\]\(([^)]+)\)/g)]
      .map((match) => match[1]!)
      .filter((link) => link.startsWith(`${repositoryUrl}/`))
      .filter((link) => {
        const path = /^\/(?:blob|tree|raw)\/main\/([^#]+)/.exec(link.slice(repositoryUrl.length))?.[1];
        return path === undefined || !existsSync(resolve(root, path));
      })
      .map((link) => `${page}: ${link}`),
  );
  expect(missing).toEqual([]);
});
