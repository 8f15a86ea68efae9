import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');
let consumer: string;

const run = (command: string, args: string[], cwd = consumer) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Installs the packed package into a fresh folder, as a user would; peers come along (npm 7+). */
beforeAll(() => {
  consumer = mkdtempSync(join(tmpdir(), 'trpc-session-consumer-'));
  run('npm', ['run', 'build'], root);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', consumer], root)) as { filename: string }[];
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `./${packed[0]!.filename}`, 'typescript@5.9', '@types/node@20']);
}, 180_000);
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

test('the tarball holds the build and the README, not the sources or tests', () => {
  const files = readdirSync(join(consumer, 'node_modules', 'trpc-session'), { recursive: true }) as string[];
  const entries = ['index', 'fastify', 'fetch', 'ws'].flatMap((name) => ['js', 'cjs', 'd.ts', 'd.cts'].map((ext) => join('dist', `${name}.${ext}`)));
  expect(files).toEqual(expect.arrayContaining(['README.md', 'package.json', ...entries]));
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
import * as z from 'zod';
if (![fetchSessionHandler, createFastifyContext, createWSContext].every((f) => typeof f === 'function')) throw new Error('bad adapters');
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
const z = require('zod');
if (![fetchSessionHandler, createWSContext].every((f) => typeof f === 'function')) throw new Error('bad adapters');
${usage}`,
  );
  expect(run('node', ['cjs.cjs']).trim()).toBe('SessionUnavailableError true PRECONDITION_FAILED');
});

// The main entry's types name no optional framework (fastify, ws): a consumer without them type-checks.
test('ships types that infer the session from the schema, for ESM and CommonJS consumers', () => {
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
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['esm.mts', 'cjs.cts'] }),
  );
  expect(run('npx', ['tsc', '-p', '.'])).toBe('');
});
