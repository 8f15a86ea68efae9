import { TRPCClientError } from '@trpc/client';
import { expect, test } from 'vitest';
import { SessionTooLargeError, type SessionData } from '../../src/index.js';
import { schema, testManager, type TestRouter } from '../helpers/app.js';
import { redisFixture } from '../helpers/fixture.js';
import { handleFor, requestFor, useStores } from '../helpers/request.js';
import { logFigures, scaled } from './support/figures.js';

const TRIES = scaled(150, 1_500);
const MAX_SIZE = 65_536;

const { stores, redis } = useStores();

type Sessions = ReturnType<typeof testManager>['sessions'];

async function newSession(sessions: Sessions): Promise<string> {
  const request = requestFor();
  const session = await handleFor(sessions, request.transport).start();
  session.data.put('visits', 1);
  await request.end();
  return session.id;
}

/** The session's data as stored: the sum of its fields' encoded bytes, read back through a load. */
async function storedFields(sessions: Sessions, id: string) {
  const request = requestFor(id);
  const session = await handleFor(sessions, request.transport).load();
  await request.end();
  return session?.data.all();
}

test.each(Object.keys(stores))('%s: concurrent writes to different fields never take a session past maxSize', async (name) => {
  const { sessions, errors } = testManager(stores[name]!(), { maxSize: MAX_SIZE });
  const fields = ['note', 'userId', 'extra'] as const;
  const counts = { tries: 0, 'writes acknowledged': 0, 'writes refused (PAYLOAD_TOO_LARGE)': 0, 'sessions over maxSize': 0, 'acknowledged and lost': 0 };
  try {
    for (let attempt = 0; attempt < TRIES; attempt++) {
      counts.tries++;
      const id = await newSession(sessions);
      const value = (field: string) => `${field}-${attempt}-`.padEnd(60_000, 'x');
      const outcomes = await Promise.all(
        fields.map(async (field) => {
          const request = requestFor(id);
          const handle = handleFor(sessions, request.transport);
          (await handle.start()).data.put(field, value(field));
          return handle.persist().then(
            () => 'acknowledged' as const,
            (error: unknown) => {
              if (error instanceof SessionTooLargeError && error.code === 'PAYLOAD_TOO_LARGE') return 'refused' as const;
              throw error;
            },
          );
        }),
      );
      const after = (await storedFields(sessions, id))!;
      const size = fields.reduce((sum, field) => sum + (after[field] === undefined ? 0 : String(after[field]).length), 0);
      if (size > MAX_SIZE) counts['sessions over maxSize']++;
      fields.forEach((field, position) => {
        if (outcomes[position] === 'refused') counts['writes refused (PAYLOAD_TOO_LARGE)']++;
        else {
          counts['writes acknowledged']++;
          if (after[field] !== value(field)) counts['acknowledged and lost']++;
        }
      });
      // One 60 KB value fits; two never do.
      expect(outcomes.filter((outcome) => outcome === 'acknowledged')).toHaveLength(1);
    }
    logFigures(`maxSize under concurrent writes (${name})`, counts);
    expect(counts['sessions over maxSize']).toBe(0);
    expect(counts['acknowledged and lost']).toBe(0);
    // Each refused write went to the caller (persist() threw), not only to onError.
    expect(errors.every((error) => error instanceof SessionTooLargeError)).toBe(true);
  } finally {
    await sessions.close();
  }
});

test.each(Object.keys(stores))('%s: a session already over maxSize may shrink, delete and keep its size, never grow', async (name) => {
  const store = stores[name]!();
  const large = testManager(store, { maxSize: MAX_SIZE });
  // The same store under a smaller limit: the session written before is now over it.
  const small = testManager(store, { maxSize: 10_000 });
  try {
    const id = await newSession(large.sessions);
    const grow = requestFor(id);
    const grown = handleFor(large.sessions, grow.transport);
    (await grown.start()).data.put('note', 'n'.repeat(40_000));
    (await grown.start()).data.put('extra', 'e'.repeat(5_000));
    await grown.persist();

    const step = async (change: (data: SessionData<typeof schema>) => void) => {
      const request = requestFor(id);
      const handle = handleFor(small.sessions, request.transport);
      change((await handle.start()).data);
      await handle.persist();
    };
    // Growing is refused at put, before anything is sent.
    await expect(step((data) => data.put('note', 'n'.repeat(40_001)))).rejects.toBeInstanceOf(SessionTooLargeError);
    // The same size, a smaller value, a delete: all pass.
    await step((data) => data.put('note', 'm'.repeat(40_000)));
    await step((data) => data.put('extra', 'e'.repeat(10)));
    await step((data) => data.delete('extra'));
    expect((await storedFields(small.sessions, id))?.note).toBe('m'.repeat(40_000));
    await step((data) => data.put('note', 'short'));
    // Back under the limit, it may grow up to it.
    await step((data) => data.put('extra', 'e'.repeat(9_000)));
    expect(await storedFields(small.sessions, id)).toMatchObject({ note: 'short', extra: 'e'.repeat(9_000) });
  } finally {
    await large.sessions.close();
  }
});

test("a put too large for maxSize fails the call with PAYLOAD_TOO_LARGE in the default after-response mode", async () => {
  const fx = await redisFixture({ maxSize: MAX_SIZE }, {}, redis());
  try {
    const { client } = fx.browser();
    await client.increment.mutate();
    const error = await client.put.mutate({ key: 'note', value: 'x'.repeat(70_000) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<TestRouter>).data?.code).toBe('PAYLOAD_TOO_LARGE');
    // Two puts that fit alone but not together: the second fails at put.
    await client.put.mutate({ key: 'note', value: 'x'.repeat(40_000) });
    const second = await client.put.mutate({ key: 'extra', value: 'y'.repeat(40_000) }).catch((caught: unknown) => caught);
    expect((second as TRPCClientError<TestRouter>).data?.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await client.peek.query())?.data).toMatchObject({ counter: 1, note: 'x'.repeat(40_000) });
  } finally {
    await fx.close();
  }
});
