import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);

// `npm run bench -- --redis-cpu` starts its own redis-server and prints its table; the figures are the bench's
// to judge, not the suite's: only that each row is there, with the commands it sent and those its scripts ran.
test('npm run bench -- --redis-cpu measures each operation and the floor on a redis-server of its own', async () => {
  const { stdout } = await run('npx', ['tsx', 'bench/run.ts', '--redis-cpu', '--calls', '20', '--rounds', '2'], { cwd: new URL('..', import.meta.url).pathname });
  const lines = stdout.split('\n');
  expect(lines).toContain('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const row = (name: string) => lines.find((line) => line.startsWith(`| ${name} |`))?.split(' | ');
  for (const name of ['read a counter', 'read and write it', 'new session', 'regenerate', 'floor: GET', 'floor: GET then SET', 'floor: SET']) {
    expect(row(name), name).toBeDefined();
    expect(Number(row(name)![2]), name).toBeGreaterThan(0);
  }
  expect(row('read a counter')![1]).toBe('1 (HGETALL)');
  expect(row('read and write it')![1]).toMatch(/^2 \(EVALSHA, HGETALL\)$/);
  expect(row('read and write it')![7]).toMatch(/HSET/);
  expect(row('new session')![1]).toBe('1 (EVALSHA)');
  expect(row('floor: GET then SET')![1]).toBe('2 (GET, SET)');
  expect(row('read and write it')![6]).toBe('GET then SET');
}, 120_000);
