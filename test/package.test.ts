import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTRPCUntypedClient, httpBatchLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CookieJar } from './helpers/http.js';
import { freePort, startRedis, type RedisServer } from './helpers/redis-server.js';
import { readmeInstallPackages } from './helpers/readme.js';

const root = resolve(import.meta.dirname, '..');
/** The consumer project: test/fixtures/consumer, or the copy with every version at npm's latest that `npm run test:latest` makes. */
const FIXTURE = process.env['TRPC_SESSION_CONSUMER'] ?? join(root, 'test', 'fixtures', 'consumer');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
let consumer: string;
let tarball: string;

const run = (command: string, args: string[], cwd = consumer, env: Record<string, string> = {}) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });

/** Runs a command; when it fails, the error carries what it printed (tsc's errors, a linter's findings). */
function output(command: string, args: string[], cwd = consumer, env: Record<string, string> = {}): string {
  try {
    return run(command, args, cwd, env);
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    throw new Error(`${[command, ...args].join(' ')} failed:\n${stdout}${stderr}`);
  }
}

/**
 * Installs the packed package as a user would into a copy of a fixture project: `npm ci` from that project's own
 * lockfile, so the peers and tools are exact versions and a fresh clone tests the same thing next month (`npm run
 * test:latest` tries the newest), then the tarball itself, through npm's peer check (no `--legacy-peer-deps`).
 */
function installPacked(fixture: string, project: string) {
  for (const name of ['package.json', 'package-lock.json']) copyFileSync(join(fixture, name), join(project, name));
  const locked = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')).packages as Record<string, { version?: string; optional?: boolean }>;
  output('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], project);
  output('npm', ['install', '--no-save', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
  // Installing the tarball took its dependencies from the lockfile and changed no locked version.
  const after = JSON.parse(readFileSync(join(project, 'node_modules', '.package-lock.json'), 'utf8')).packages as Record<string, { version: string }>;
  for (const [path, entry] of Object.entries(locked)) {
    if (path !== '' && entry.version && !entry.optional) expect(after[path]?.version, path).toBe(entry.version);
  }
}

/** The consumer project: the README's install line and what the framework examples need (test/fixtures/consumer). */
beforeAll(() => {
  consumer = mkdtempSync(join(tmpdir(), 'trpc-session-consumer-'));
  run('npm', ['run', 'build'], root);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', consumer], root)) as { filename: string }[];
  tarball = join(consumer, packed[0]!.filename);
  installPacked(FIXTURE, consumer);
}, 240_000);

test("the consumer project installs every package of the README's install lines", () => {
  const { dependencies } = JSON.parse(readFileSync(join(FIXTURE, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect(readmeInstallPackages().filter((name) => name !== 'trpc-session' && !(name in dependencies))).toEqual([]);
});
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

test('the tarball holds the build, the README, the changelog and the license, not the sources or tests', () => {
  const files = readdirSync(join(consumer, 'node_modules', 'trpc-session'), { recursive: true }) as string[];
  const entries = ['index', 'fastify', 'fetch', 'next', 'ws', 'testing'].flatMap((name) => ['js', 'cjs', 'd.ts', 'd.cts'].map((ext) => join('dist', `${name}.${ext}`)));
  expect(files).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'LICENSE', 'package.json', ...entries]));
  expect(files.some((file) => file.startsWith('src') || file.startsWith('test'))).toBe(false);
});

const usage = `
const store = memoryStore();
const sessions = createSessionManager({ schema: z.object({ n: z.number().default(0) }), store });
const handle = sessions.createContext().session;
if (!(handle.start instanceof Function) || typeof redisStore !== 'function') throw new Error('bad exports');
handle.start().catch((error) => console.log(error.name, error instanceof SessionError, error.code));
`;

test('works from ESM', () => {
  writeFileSync(
    join(consumer, 'esm.mjs'),
    `import { createSessionManager, memoryStore, redisStore, SessionError } from 'trpc-session';
import { fetchSessionHandler } from 'trpc-session/fetch';
import { createFastifyContext } from 'trpc-session/fastify';
import { createWSContext } from 'trpc-session/ws';
import { storeContractCases } from 'trpc-session/testing';
import * as z from 'zod';
if (![fetchSessionHandler, createFastifyContext, createWSContext, storeContractCases].every((f) => typeof f === 'function')) throw new Error('bad adapters');
${usage}`,
  );
  expect(run('node', ['esm.mjs']).trim()).toBe('SessionUnavailableError true PRECONDITION_FAILED');
});

test('works from CommonJS', () => {
  writeFileSync(
    join(consumer, 'cjs.cjs'),
    `const { createSessionManager, memoryStore, redisStore, SessionError } = require('trpc-session');
const { fetchSessionHandler } = require('trpc-session/fetch');
const { createWSContext } = require('trpc-session/ws');
const { storeContractCases } = require('trpc-session/testing');
const z = require('zod');
if (![fetchSessionHandler, createWSContext, storeContractCases].every((f) => typeof f === 'function')) throw new Error('bad adapters');
${usage}`,
  );
  expect(run('node', ['cjs.cjs']).trim()).toBe('SessionUnavailableError true PRECONDITION_FAILED');
});

// The ESM and CommonJS builds are two copies of the library in one process, as a bundler that gives each route
// its own copy makes (Next.js): a manager made by one must work with the other's adapters and procedure.
test('a manager made by one copy of the package works with the adapters of another', () => {
  writeFileSync(
    join(consumer, 'two-copies.mjs'),
    `import { createRequire } from 'node:module';
import { initTRPC } from '@trpc/server';
import { createSessionManager, memoryStore } from 'trpc-session';
import * as z from 'zod';
const other = createRequire(import.meta.url)('trpc-session');
const sessions = createSessionManager({ schema: z.object({ n: z.number().default(0) }), store: memoryStore() });
const t = initTRPC.context().create();
const procedure = t.procedure.concat(sessions.procedure);
const router = t.router({
  bump: procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('n', session.data.get('n') + 1);
    return session.data.get('n');
  }),
});
let cookie;
const call = () => router.createCaller(other.createCallerContext(sessions, { cookie, setCookie: (header) => (cookie = header.split(';')[0].split('=')[1]) })).bump();
console.log(await call(), await call());`,
  );
  expect(run('node', ['two-copies.mjs']).trim()).toBe('1 2');
});

// The CommonJS copy also loads @trpc/server's CommonJS build: its errors are of another TRPCError class than
// the ESM router's, as with Next.js's `serverExternalPackages: ['trpc-session']` or a manager shared between
// routes bundled apart.
test("an error from one copy of the package is an instance of the other's classes, and keeps its code in the other's router", () => {
  writeFileSync(
    join(consumer, 'two-copies-errors.mjs'),
    `import { createRequire } from 'node:module';
import { initTRPC, TRPCError } from '@trpc/server';
import { SessionConflictError, SessionError, SessionGoneError, SessionUnavailableError } from 'trpc-session';
import * as z from 'zod';
const other = createRequire(import.meta.url)('trpc-session');
const gone = new other.SessionGoneError('abc123…');
console.log(gone.name, gone instanceof SessionGoneError, gone instanceof SessionError, gone instanceof SessionConflictError, gone instanceof TRPCError);
class AppError extends SessionError {}
console.log(new AppError('CONFLICT', 'x') instanceof SessionError, gone instanceof AppError, new AppError('CONFLICT', 'x').name);
// Every error class the package exports: named by a literal (a minifier renames classes), and recognising the
// other copy's instances. Printed: the classes that are not.
const mine = await import('trpc-session');
const classes = Object.keys(mine).filter((name) => mine[name] === SessionError || mine[name]?.prototype instanceof SessionError);
const brand = Symbol.for('trpc-session.error-class');
console.log(classes.length, classes.filter((name) => Object.getOwnPropertyDescriptor(mine[name].prototype, brand)?.value !== name || !(Object.create(other[name].prototype) instanceof mine[name])).join(' ') || 'none');

const sessions = other.createSessionManager({ schema: z.object({ n: z.number().default(0) }), store: other.memoryStore() });
const t = initTRPC.context().create();
const procedure = t.procedure.concat(sessions.procedure);
const router = t.router({ start: procedure.mutation(({ ctx }) => ctx.session.start()) });
try {
  await router.createCaller(other.createCallerContext(sessions, { cookie: undefined })).start();
} catch (error) {
  console.log(error.code, error instanceof TRPCError, error.cause instanceof SessionUnavailableError, error.message === error.cause.message);
}`,
  );
  expect(run('node', ['two-copies-errors.mjs']).trim().split('\n')).toEqual([
    'SessionGoneError true true false false',
    'true false AppError',
    '15 none',
    'PRECONDITION_FAILED true true true',
  ]);
});

/**
 * The compilers the consumer checks run on: the lowest TypeScript the package supports and TypeScript 7 (the
 * Go compiler; its package's `tsc` is a small launcher), both locked in the consumer project.
 */
const COMPILERS = {
  lowest: () => join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'),
  'typescript 7': () => join(consumer, 'node_modules', 'typescript7', 'bin', 'tsc'),
};
const compilerMajor = (tsc: string) => Number(/Version (\d+)/.exec(run(tsc, ['--version']))![1]);

/** Runs tsc and resolves to what it printed, '' when it found nothing. */
const check = (tsc: string, args: string[], cwd = consumer) =>
  new Promise<string>((done) => execFile(tsc, args, { cwd, encoding: 'utf8' }, (_error, stdout, stderr) => done(stdout + stderr)));

// The main entry's types name no optional framework (fastify, ws), and no ioredis type: a consumer without them,
// or with an ioredis whose own declarations fail `skipLibCheck: false` (6.1.0, the consumer project's), type-checks.
test.each(Object.keys(COMPILERS) as (keyof typeof COMPILERS)[])('ships types that infer the session from the schema, for ESM and CommonJS consumers (%s)', async (compiler) => {
  const source = `
import { createSessionManager, memoryStore } from 'trpc-session';
import { fetchSessionHandler } from 'trpc-session/fetch';
export const handler = fetchSessionHandler;
import * as z from 'zod';
const sessions = createSessionManager({ schema: z.object({ cart: z.array(z.string()).default([]) }), store: memoryStore() });
export async function use() {
  const session = await sessions.createContext().session.start();
  const cart: string[] = session.data.get('cart');
  // @ts-expect-error wrong type
  session.data.put('cart', 1);
  return cart;
}
`;
  writeFileSync(join(consumer, 'esm.mts'), source);
  writeFileSync(join(consumer, 'cjs.cts'), source);
  const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['esm.mts', 'cjs.cts'] }));
  // --listFiles prints each file of the program as an absolute path, after any error.
  const printed = (await check(COMPILERS[compiler](), ['-p', '.', '--listFiles'])).split('\n');
  expect(printed.filter((line) => line !== '' && !line.startsWith('/'))).toEqual([]);
  expect(printed.filter((file) => file.includes('/node_modules/ioredis/')), 'no ioredis declaration is loaded').toEqual([]);
  expect(printed.filter((file) => file.includes('/node_modules/trpc-session/')).length).toBeGreaterThan(0);
}, 240_000);

// @trpc/server's floor (11.0.0, the `trpc-server-floor` alias of the consumer project, put in place of
// @trpc/server by `paths`), with the packed declarations: a concat'ed procedure takes an input parser.
test.each(Object.keys(COMPILERS) as (keyof typeof COMPILERS)[])("the packed types fit @trpc/server's floor, 11.0.0 (%s)", async (compiler) => {
  writeFileSync(
    join(consumer, 'floor.mts'),
    `import { initTRPC } from '@trpc/server';
import { createSessionManager, memoryStore, type SessionContext } from 'trpc-session';
import * as z from 'zod';
const schema = z.object({ name: z.string().optional() });
const sessions = createSessionManager({ schema, store: memoryStore() });
const t = initTRPC.context<SessionContext<typeof schema>>().create();
const procedure = t.procedure.concat(sessions.procedure);
export const router = t.router({
  greet: procedure.input(z.string()).query(({ input, ctx }) => ctx.session.load().then(() => input.toUpperCase())),
  rename: procedure.input(z.object({ name: z.string() })).mutation(async ({ input, ctx }) => (await ctx.session.start()).data.put('name', input.name)),
});
`,
  );
  const floor = join(consumer, 'node_modules', 'trpc-server-floor');
  const paths = { '@trpc/server': [join(floor, 'dist', 'index.d.ts')], '@trpc/server/*': [join(floor, 'dist', '*.d.ts'), join(floor, 'dist', '*', 'index.d.ts')] };
  const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], paths };
  writeFileSync(join(consumer, 'tsconfig.floor.json'), JSON.stringify({ compilerOptions, files: ['floor.mts'] }));
  expect(await check(COMPILERS[compiler](), ['-p', 'tsconfig.floor.json', '--explainFiles'])).toMatch(/node_modules\/trpc-server-floor\/dist\/index\.d\.ts/);
  expect(await check(COMPILERS[compiler](), ['-p', 'tsconfig.floor.json'])).toBe('');
}, 120_000);

// An app on zod 3.25 writes its schemas with `zod/v4` (zod 4, inside zod 3.25). The package's types import
// `zod/v4` too, so they are the app's zod 4 types; from `zod` they would be zod 3's, and the schema would not fit.
describe('an app on zod 3.25, its schemas from zod/v4 (test/fixtures/consumer-zod3)', () => {
  let app: string;
  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'trpc-session-zod3-'));
    installPacked(join(root, 'test', 'fixtures', 'consumer-zod3'), app);
  }, 240_000);
  afterAll(() => rmSync(app, { recursive: true, force: true }));

  // The same source as ESM and CommonJS (the .d.ts and the .d.cts); async code in a function, as CommonJS has no
  // top-level await.
  const source = `
import { initTRPC } from '@trpc/server';
import { createCallerContext, createSessionManager, memoryStore, type SessionContext } from 'trpc-session';
import { z } from 'zod/v4';
import * as z3 from 'zod';

const schema = z.object({ cart: z.array(z.string()).default([]) });
const sessions = createSessionManager({ schema, store: memoryStore() });
const t = initTRPC.context<SessionContext<typeof schema>>().create();
const router = t.router({
  add: t.procedure.concat(sessions.procedure).input(z.string()).mutation(async ({ input, ctx }) => {
    const session = await ctx.session.start();
    const cart: string[] = session.data.get('cart');
    try {
      // @ts-expect-error wrong type: refused by the types, and at run time by the schema
      session.data.put('cart', 1);
    } catch (error) {
      console.log((error as Error).name);
    }
    session.data.put('cart', [...cart, input]);
    return session.data.get('cart');
  }),
});

async function main() {
  let cookie: string | undefined;
  const caller = () => router.createCaller(createCallerContext(sessions, { cookie, setCookie: (header) => (cookie = header.split(';')[0]!.split('=')[1]) }));
  const first: string[] = await caller().add('beans');
  console.log(JSON.stringify([first, await caller().add('tea')]));
  await sessions.close();
  try {
    // @ts-expect-error a zod 3 schema is not a zod 4 one
    createSessionManager({ schema: z3.object({ n: z3.number() }), store: memoryStore() });
  } catch (error) {
    console.log(error instanceof TypeError, (error as Error).message);
  }
}
void main();
`;

  test('npm installs the package beside zod 3.25.76 without --legacy-peer-deps', () => {
    expect((JSON.parse(readFileSync(join(app, 'node_modules', 'zod', 'package.json'), 'utf8')) as { version: string }).version).toBe('3.25.76');
    expect(existsSync(join(app, 'node_modules', 'trpc-session', 'package.json'))).toBe(true);
  });

  // Earlier 3.25 releases shipped zod 4 before its release as `zod/v4`: the peer range starts at 3.25.76.
  test("npm's peer check refuses the package beside zod 3.25.75 (ERESOLVE)", () => {
    expect(() => output('npm', ['install', '--dry-run', '--no-save', '--prefer-offline', '--no-audit', '--no-fund', 'zod@3.25.75', tarball], app)).toThrow(/ERESOLVE/);
  }, 120_000);

  // `zod/v4` resolves through zod's `exports` (nodenext, bundler), or to its v4/index.d.ts file (node10).
  test.each(Object.keys(COMPILERS) as (keyof typeof COMPILERS)[])(
    'its zod/v4 schemas type-check with skipLibCheck: false and infer the session, under nodenext (ESM and CommonJS), node10 (TypeScript 5) and bundler (%s)',
    async (compiler) => {
      const tsc = COMPILERS[compiler]();
      for (const file of ['app.mts', 'app.cts', 'app.ts']) writeFileSync(join(app, file), source);
      const projects = {
        nodenext: { settings: { module: 'nodenext', moduleResolution: 'nodenext' }, files: ['app.mts', 'app.cts'] },
        node10: { settings: RESOLUTIONS.node10, files: ['app.ts'] },
        bundler: { settings: RESOLUTIONS.bundler, files: ['app.ts'] },
      };
      const results = await Promise.all(
        Object.entries(projects).map(async ([name, { settings, files }]) => {
          const compilerOptions = { ...settings, target: 'es2022', lib: ['es2023'], strict: true, noEmit: true, skipLibCheck: false, types: ['node'] };
          writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files }));
          return { name, printed: await check(tsc, ['-p', `tsconfig.${name}.json`], app) };
        }),
      );
      const removed = compilerMajor(tsc) >= 7 ? ['node10'] : [];
      expect(results).toEqual(Object.keys(projects).map((name) => ({ name, printed: removed.includes(name) ? expect.stringContaining('TS5108') : '' })));
    },
    120_000,
  );

  test.each(['app.mts', 'app.cts'])('%s runs: the zod/v4 schema keeps and validates a session, a zod 3 schema is a TypeError naming the fix', (file) => {
    writeFileSync(join(app, file), source);
    expect(output(bin('tsx'), [file], app).trim().split('\n')).toEqual([
      'SessionValidationError',
      'SessionValidationError',
      '[["beans"],["beans","tea"]]',
      "true trpc-session: `schema` is a zod 3 schema; trpc-session needs zod 4: install zod@4, or with zod 3.25 import z from 'zod/v4'",
    ]);
  }, 120_000);
});

test('publint and are-the-types-wrong find no problem in the packed tarball', () => {
  expect(output(bin('publint'), ['run', tarball, '--strict'])).toMatch(/All good/);
  // Every entry point under node10, node16 (from CJS and ESM) and bundler resolution. node10 is kept: attw checks
  // with its own TypeScript 5, where node10 exists and is supported (TypeScript 7 refuses it, checked below).
  expect(output(bin('attw'), [tarball, '--format', 'table'])).toMatch(/No problems found/);
}, 120_000);

const EXAMPLES = ['server.ts', 'browser-client.ts', 'node-client.ts', 'fastify.ts', 'hono.ts', 'writing-a-store.ts', 'remember-me.ts'];
/** Type-checked here too; test/readme-examples.e2e.test.ts and the features' own tests run them, from the sources. */
const MORE_EXAMPLES = ['before-response.ts', 'express.ts', 'websocket.ts', 'caller.ts', 'redis-connections.ts', 'devices.ts', 'schema-migrations.ts'];
const RESOLUTIONS = {
  node10: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
};

// One test per compiler, three resolutions at once: each loads fastify's and Hono's types, which takes a while.
// TypeScript 7 removed node10 (TS5108), so there only node16 and bundler are supported, and node10 is refused.
test.each(Object.keys(COMPILERS) as (keyof typeof COMPILERS)[])(
  'the README examples type-check in the fresh project under moduleResolution node10 (TypeScript 5), node16 and bundler (%s)',
  async (compiler) => {
    const tsc = COMPILERS[compiler]();
    const files = [...EXAMPLES, ...MORE_EXAMPLES];
    for (const file of files) copyFileSync(join(root, 'examples', file), join(consumer, file));
    const results = await Promise.all(
      Object.entries(RESOLUTIONS).map(async ([name, settings]) => {
        const compilerOptions = { ...settings, target: 'es2022', lib: ['es2023', 'dom'], strict: true, noEmit: true, skipLibCheck: true, types: ['node'] };
        writeFileSync(join(consumer, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files }));
        return { name, printed: await check(tsc, ['-p', `tsconfig.${name}.json`]) };
      }),
    );
    const removed = compilerMajor(tsc) >= 7 ? ['node10'] : [];
    expect(results).toEqual(
      Object.keys(RESOLUTIONS).map((name) => ({ name, printed: removed.includes(name) ? expect.stringContaining('TS5108') : '' })),
    );
  },
  240_000,
);

describe('the README examples, run from the tarball against Redis', () => {
  let redis: RedisServer;
  const servers: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    for (const file of EXAMPLES) copyFileSync(join(root, 'examples', file), join(consumer, file));
  });
  afterAll(async () => {
    for (const server of servers) server.kill();
    await redis?.stop(true);
  });

  /** Starts an example with tsx on a free loopback port and waits until it answers HTTP. */
  async function serve(file: string): Promise<string> {
    const port = await freePort();
    const server = spawn(bin('tsx'), [file], { cwd: consumer, env: { ...process.env, PORT: String(port), REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(server);
    let logs = '';
    server.stdout!.on('data', (chunk) => (logs += chunk));
    server.stderr!.on('data', (chunk) => (logs += chunk));
    const url = `http://127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt++) {
      if (server.exitCode !== null) throw new Error(`${file} exited with ${server.exitCode}:\n${logs}`);
      try {
        await fetch(url);
        return url;
      } catch {
        if (attempt > 600) throw new Error(`${file} did not listen on ${url}:\n${logs}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  test('the Node client keeps its session across calls to the Quick start server, through login and logout', async () => {
    const url = await serve('server.ts');
    const printed = output(bin('tsx'), ['node-client.ts'], consumer, { API_URL: `${url}/trpc` });
    expect(printed.trim().split('\n')).toEqual(['[{"productId":"beans","quantity":2}]', '[]']);
    const inspect = redis.client();
    // Logged out: no session record left; the login's regenerate() leaves only its moved mark (naming the new
    // ID, then the record it took, which a resent move answers with), and the logout its revoked mark (naming the
    // call, which a resent removal answers by), each for 10 seconds.
    const left = await inspect.keys('*');
    expect((await Promise.all(left.map((key) => inspect.get(key)))).sort()).toEqual([
      expect.stringMatching(/^trpc-session:moved:[\w-]{32}(\n|$)/),
      expect.stringMatching(/^trpc-session:revoked\n[\w-]+$/),
    ]);
    inspect.disconnect();
  }, 120_000);

  test('the remember-me example sets a 30-day cookie, then a browser session cookie', () => {
    expect(output(bin('tsx'), ['remember-me.ts']).trim().split('\n')).toEqual(['sid=…; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax', 'sid=…; Path=/; HttpOnly; SameSite=Lax']);
  }, 120_000);

  test("the store example runs the contract suite from the tarball, and every case passes", () => {
    expect(output(bin('tsx'), ['writing-a-store.ts'])).toMatch(/[#ℹ] pass [1-9]\d*\n[#ℹ] fail 0\n/);
  }, 120_000);

  test.each(['fastify.ts', 'hono.ts'])('%s keeps a session across calls with the real tRPC client', async (file) => {
    const base = await serve(file);
    const jar = new CookieJar();
    const client = createTRPCUntypedClient({ links: [httpBatchLink({ url: `${base}/trpc`, fetch: jar.fetch })] });
    expect(await client.mutation('visit')).toBe(1);
    expect(await client.mutation('visit')).toBe(2);
    expect(jar.cookies.get('sid')).toMatch(/^[\w-]{32}$/);
    const stranger = createTRPCUntypedClient({ links: [httpBatchLink({ url: `${base}/trpc`, fetch: new CookieJar().fetch })] });
    expect(await stranger.mutation('visit'), 'another client has a session of its own').toBe(1);
  }, 120_000);
});
