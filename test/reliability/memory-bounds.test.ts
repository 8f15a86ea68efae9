import { expect, test } from 'vitest';
import { memoryStore, type SessionStore } from '../../src/index.js';
import { testManager } from '../helpers/app.js';
import { handleFor, requestFor } from '../helpers/request.js';
import { logFigures, scaled } from './support/figures.js';

const NOTE_BYTES = 60_000;

/** Creates `count` sessions each holding a note of `NOTE_BYTES` characters; resolves to their IDs, oldest first. */
async function fill(store: SessionStore, count: number) {
  const { sessions, errors } = testManager(store);
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const request = requestFor();
    const session = await handleFor(sessions, request.transport).start();
    session.data.put('note', String(index % 10).repeat(NOTE_BYTES));
    await request.end();
    ids.push(session.id);
  }
  expect(errors).toEqual([]);
  return { ids, sessions };
}

async function survivors(sessions: ReturnType<typeof testManager>['sessions'], ids: string[]) {
  const alive: boolean[] = [];
  for (const id of ids) {
    const request = requestFor(id);
    alive.push((await handleFor(sessions, request.transport).load()) !== null);
  }
  return alive;
}

test('the memory store holds at most maxBytes of session data (64 MiB by default), evicting the least recently used', async () => {
  // 2,500 sessions of 60 KB are 150 MB of notes; the default bound keeps the most recent 64 MiB of them.
  const count = scaled(2_500, 5_000);
  const { ids, sessions } = await fill(memoryStore(), count);
  const alive = await survivors(sessions, ids);
  const kept = alive.filter(Boolean).length;
  const perSession = NOTE_BYTES + 100;
  expect(kept * perSession).toBeLessThanOrEqual(64 * 1024 * 1024);
  // Not far below the bound either: what was evicted is what did not fit, oldest first.
  expect(kept * (perSession + 1_000)).toBeGreaterThan(64 * 1024 * 1024 - 2 * perSession);
  expect(alive.indexOf(true)).toBe(count - kept);
  logFigures('memory store by bytes (default 64 MiB)', { sessions: count, kept, 'bytes of notes kept': kept * NOTE_BYTES, failures: 0 });
}, 120_000);

test('a session in use survives the byte bound; the one being written is never evicted, even alone over the bound', async () => {
  const store = memoryStore({ maxBytes: 1024 * 1024 });
  const { sessions } = testManager(store);
  // The favourite is created first and read every few sessions; a hundred others of 60 KB follow.
  const first = requestFor();
  const created = await handleFor(sessions, first.transport).start();
  created.data.put('note', 'f'.repeat(NOTE_BYTES));
  await first.end();
  const favourite = created.id;
  const others: string[] = [];
  for (let index = 0; index < 100; index++) {
    const request = requestFor();
    const session = await handleFor(sessions, request.transport).start();
    session.data.put('note', 'o'.repeat(NOTE_BYTES));
    await request.end();
    others.push(session.id);
    if (index % 5 === 0) expect(await handleFor(sessions, requestFor(favourite).transport).load()).not.toBeNull();
  }
  const alive = await survivors(sessions, [favourite, ...others]);
  expect(alive[0]).toBe(true);
  expect(alive.filter(Boolean).length).toBeLessThanOrEqual(Math.floor((1024 * 1024) / NOTE_BYTES));
  // A store too small for any one session keeps the one just written rather than refuse it.
  const tiny = memoryStore({ maxBytes: 1_000 });
  const { sessions: small } = testManager(tiny);
  const request = requestFor();
  const big = await handleFor(small, request.transport).start();
  big.data.put('note', 'b'.repeat(NOTE_BYTES));
  await request.end();
  expect(await handleFor(small, requestFor(big.id).transport).load()).not.toBeNull();
});

test('memoryStore options are checked at start-up, with a TypeError naming them', () => {
  for (const maxBytes of [0, -1, 1.5, Number.NaN, '64MB']) expect(() => memoryStore({ maxBytes: maxBytes as number })).toThrow(/maxBytes/);
  for (const maxSessions of [0, 1.5, '10']) expect(() => memoryStore({ maxSessions: maxSessions as number })).toThrow(/maxSessions/);
});
