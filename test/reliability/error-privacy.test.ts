import { inspect } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as z from 'zod';
import { encodeValue } from '../../src/codec.js';
import { createSessionManager, redisStore, SessionError } from '../../src/index.js';
import { handleFor, requestFor } from '../helpers/request.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { logFigures } from './support/figures.js';

/** Stored values an error must never carry: a note, and an e-mail address used as a key in drifted data. */
const NOTE = 'private-note-3f9a1c';
const EMAIL = 'alice.private@example.com';

const schema = z.object({
  note: z.string().optional(),
  counter: z.number().int().default(0),
  profile: z.strictObject({ name: z.string() }).optional(),
  tags: z.record(z.string(), z.number()).optional(),
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

/** Every error reported to `onError` or thrown to a caller in this file. */
const seen: unknown[] = [];
let checked = 0;

function manager(commandTimeout = 500) {
  const client = redis.client({ maxRetriesPerRequest: 1 });
  const store = redisStore({ redis: client, commandTimeout });
  const sessions = createSessionManager({ schema, store, onError: (error) => seen.push(error) });
  return { sessions, close: () => client.disconnect() };
}

/** Runs `work`, keeping what it throws among the errors to check. */
async function catching(work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    seen.push(error);
  }
}

/** Every text a logger could make of an error: its message and stack, its cause chain and enumerable properties, JSON and util.inspect. */
function textsOf(error: unknown, texts: string[] = [], visited = new Set<unknown>()): string[] {
  if (visited.has(error) || error === null || error === undefined) return texts;
  visited.add(error);
  texts.push(String(error));
  if (typeof error !== 'object') return texts;
  texts.push(inspect(error, { depth: Infinity }), inspect(error, { depth: Infinity, showHidden: true }));
  try {
    texts.push(JSON.stringify(error) ?? '');
  } catch {
    // A cyclic error cannot be JSON: util.inspect above shows it all.
  }
  if (error instanceof Error) texts.push(error.message, error.stack ?? '');
  for (const value of Object.values(error)) textsOf(value, texts, visited);
  if (error instanceof Error) textsOf(error.cause, texts, visited);
  return texts;
}

/** The forms a secret could take in an error: its text, its bytes in hex, as JSON's list of numbers. */
const forms = (secret: string) => [secret, Buffer.from(secret).toString('hex'), Buffer.from(secret).join(',')];

function expectNothingLeaked(ids: string[], errors: readonly unknown[] = seen): void {
  const needles = [...ids, ...forms(NOTE), ...forms(EMAIL)];
  for (const error of errors) {
    const texts = textsOf(error).join('\n');
    for (const needle of needles) {
      expect(texts.includes(needle), `${needle} in ${texts.slice(0, 2_000)}`).toBe(false);
      checked++;
    }
  }
}

/** A new session holding the note, written to Redis. */
async function storedSession(sessions: ReturnType<typeof manager>['sessions']) {
  const request = requestFor();
  const session = await handleFor(sessions, request.transport).start();
  session.data.put('note', NOTE);
  await request.end();
  return session.id;
}

test('errors and onError reports carry no full session ID and no stored value, in any form a logger could record', async () => {
  const { sessions, close } = manager();
  const inspectClient = redis.client();
  const ids: string[] = [];
  try {
    // Writes refused by Redis (out of memory): ioredis's error holds the key and the values in `command.args`.
    const id = await storedSession(sessions);
    ids.push(id);
    await inspectClient.config('SET', 'maxmemory-policy', 'noeviction');
    await inspectClient.config('SET', 'maxmemory', '1');
    const before = seen.length;
    await catching(async () => {
      const request = requestFor(id);
      const session = await handleFor(sessions, request.transport).start();
      session.data.put('note', `${NOTE}!`);
      session.data.put('tags', { [EMAIL]: 1 });
      await request.end(); // reported to onError
      await session.data.update('counter', (count: number) => count + 1); // thrown
    });
    await catching(async () => {
      const request = requestFor();
      const handle = handleFor(sessions, request.transport);
      const session = await handle.start();
      session.data.put('note', NOTE);
      await handle.persist();
      ids.push(session.id);
    });
    await inspectClient.config('SET', 'maxmemory', '0');
    expect(seen.length - before).toBeGreaterThanOrEqual(2);
    expect(seen.slice(before).every((error) => error instanceof SessionError)).toBe(true);

    // Stored fields that cannot be used: bytes that are not msgpack (holding the note), a wrong type, drifted data.
    const corrupt = await storedSession(sessions);
    ids.push(corrupt);
    await inspectClient.hset(
      `session:${corrupt}`,
      'd:note',
      Buffer.concat([Buffer.from([0xc1]), Buffer.from(NOTE)]),
      'd:counter',
      Buffer.from(encodeValue(NOTE)),
      'd:profile',
      Buffer.from(encodeValue({ name: 'Alice', [EMAIL]: NOTE })),
      'd:tags',
      Buffer.from(encodeValue({ [EMAIL]: NOTE })),
      `d:${EMAIL}`,
      Buffer.from(encodeValue(NOTE)),
    );
    const reading = requestFor(corrupt);
    const loaded = await handleFor(sessions, reading.transport).load();
    expect(loaded?.data.all()).toEqual({ counter: 0 });
    await reading.end();

    // Redis paused: commands time out.
    const paused = await storedSession(sessions);
    ids.push(paused);
    await inspectClient.call('CLIENT', 'PAUSE', '1500', 'ALL');
    await catching(() => handleFor(sessions, requestFor(paused).transport).start());
    await new Promise((resolve) => setTimeout(resolve, 1_600));

    // Redis stopped: the connection refused, commands rejected.
    const stopped = await storedSession(sessions);
    ids.push(stopped);
    await redis.stop(true);
    await catching(() => handleFor(sessions, requestFor(stopped).transport).start());
    await catching(async () => {
      const request = requestFor();
      const session = await handleFor(sessions, request.transport).start();
      session.data.put('note', NOTE);
      ids.push(session.id);
      await handleFor(sessions, request.transport).persist();
    });
    await redis.start();
  } finally {
    close();
    inspectClient.disconnect();
  }
  expect(seen.length).toBeGreaterThanOrEqual(8);
  expect(seen.every((error) => error instanceof SessionError)).toBe(true);
  expectNothingLeaked(ids);
  logFigures('error privacy', { 'errors checked': seen.length, 'needle checks': checked, kinds: [...new Set(seen.map((error) => (error as Error).name))].join(' '), failures: 0 });
}, 60_000);

test("the app's own exceptions (a migration, a schema check) reach no error with the value they quote: class and frames kept, message withheld", async () => {
  const errors: unknown[] = [];
  const client = redis.client();
  const store = redisStore({ redis: client });
  // A check that throws rather than returning false: `new URL` keeps what it was given as `input`.
  const checked = z.object({ note: z.string().optional(), site: z.string().refine((value) => new URL(value).protocol === 'https:').optional() });
  const v1 = createSessionManager({ schema: checked, store, onError: (error) => errors.push(error) });
  // JSON.parse of a stored string that is not JSON: its SyntaxError quotes the string.
  const v2 = createSessionManager({
    schema: checked,
    store,
    schemaVersion: 2,
    migrations: { 2: (fields) => ({ ...fields, note: JSON.parse(String(fields.note)) as string }) },
    onError: (error) => errors.push(error),
  });
  const catchingHere = async (work: () => Promise<unknown>) => {
    try {
      await work();
      errors.push(new Error('expected a failure'));
    } catch (error) {
      errors.push(error);
    }
  };
  const ids: string[] = [];
  try {
    const written = requestFor();
    const session = await handleFor(v1, written.transport).start();
    session.data.put('note', NOTE);
    ids.push(session.id);
    // A put whose check throws: the library's TypeError, which must not hold the value put.
    expect(() => session.data.put('site', `${EMAIL}/${NOTE}`)).toThrow(TypeError);
    try {
      session.data.put('site', NOTE);
    } catch (error) {
      errors.push(error);
    }
    await written.end();
    // A stored value the check throws on when it is read back.
    await client.hset(`session:${session.id}`, 'd:site', Buffer.from(encodeValue(`${NOTE} ${EMAIL}`)));
    const reading = requestFor(session.id);
    await catchingHere(async () => (await handleFor(v1, reading.transport).start()).data.get('site'));
    await reading.end();
    // The migration throws on the stored note, on start() and load().
    await catchingHere(() => handleFor(v2, requestFor(session.id).transport).start());
    await catchingHere(() => handleFor(v2, requestFor(session.id).transport).load());
  } finally {
    client.disconnect();
  }
  const names = errors.map((error) => (error as Error).name);
  expect(names).toContain('TypeError');
  expect(names).toContain('SessionMigrationError');
  const migrationFailure = errors.find((error) => (error as Error).name === 'SessionMigrationError') as Error;
  // The app's exception keeps its class, and where it was thrown.
  expect((migrationFailure.cause as Error).name).toBe('SyntaxError');
  expect((migrationFailure.cause as Error).stack).toMatch(/\n\s+at /);
  const checkFailure = errors.find((error) => error instanceof TypeError) as Error;
  expect((checkFailure.cause as Error).name).toBe('TypeError');
  expect(textsOf(checkFailure).join('\n')).not.toMatch(/"input"|input:/);
  expectNothingLeaked(ids, errors);
  logFigures("error privacy: the app's exceptions", { 'errors checked': errors.length, kinds: [...new Set(names)].join(' '), failures: 0 });
}, 30_000);
