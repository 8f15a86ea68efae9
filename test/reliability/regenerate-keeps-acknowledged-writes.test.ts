import { expect, test } from 'vitest';
import { SessionGoneError } from '../../src/index.js';
import { testManager } from '../helpers/app.js';
import { handleFor, requestFor, useStores } from '../helpers/request.js';
import { logFigures, scaled } from './support/figures.js';

const TRIES = scaled(150, 1_500);

const { stores } = useStores();

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Sessions = ReturnType<typeof testManager>['sessions'];

/** A persisted session with `visits` 0; resolves to its ID. */
async function newSession(sessions: Sessions): Promise<string> {
  const request = requestFor();
  const session = await handleFor(sessions, request.transport).start();
  session.data.put('visits', 0);
  await request.end();
  return session.id;
}

/** What the new session holds once both requests are done. */
async function stored(sessions: Sessions, id: string) {
  const request = requestFor(id);
  const session = await handleFor(sessions, request.transport).load();
  await request.end();
  return session === null ? null : { visits: session.data.get('visits'), note: session.data.get('note'), userId: session.data.get('userId') };
}

const writes = {
  /** `data.update`: a compare-and-set on the old ID. */
  'data.update': async (sessions: Sessions, id: string, tag: string) => {
    const request = requestFor(id);
    const session = await handleFor(sessions, request.transport).start();
    await session.data.update('visits', (visits) => visits + 1);
    void tag;
  },
  /** `put` + `persist()`: a field write on the old ID. */
  'put + persist': async (sessions: Sessions, id: string, tag: string) => {
    const request = requestFor(id);
    const handle = handleFor(sessions, request.transport);
    (await handle.start()).data.put('note', tag);
    await handle.persist();
  },
};

for (const storeName of Object.keys(stores)) {
  for (const [writeName, write] of Object.entries(writes)) {
    test(`${storeName}: ${writeName} racing regenerate() is carried into the new session or refused, never acknowledged and lost`, async () => {
      const { sessions, errors } = testManager(stores[storeName]!());
      const counts = { tries: 0, 'acknowledged and carried': 0, 'refused (SessionGoneError)': 0, 'acknowledged and lost': 0 };
      try {
        for (let attempt = 0; attempt < TRIES; attempt++) {
          counts.tries++;
          const oldId = await newSession(sessions);
          const tag = `note-${attempt}`;
          const login = (async () => {
            const request = requestFor(oldId);
            const handle = handleFor(sessions, request.transport);
            await handle.load();
            // The login's password check, during which the other request runs.
            await pause(Math.random() * 3);
            const session = await handle.regenerate();
            session.data.put('userId', 'alice');
            await request.end();
            return session.id;
          })();
          const other = (async () => {
            await pause(Math.random() * 3);
            return write(sessions, oldId, tag).then(
              () => 'acknowledged' as const,
              (error: unknown) => {
                if (error instanceof SessionGoneError) return 'refused' as const;
                throw error;
              },
            );
          })();
          const [newId, outcome] = await Promise.all([login, other]);
          const after = await stored(sessions, newId);
          expect(after?.userId).toBe('alice');
          const carried = writeName === 'data.update' ? after?.visits === 1 : after?.note === tag;
          if (outcome === 'refused') counts['refused (SessionGoneError)']++;
          else if (carried) counts['acknowledged and carried']++;
          else counts['acknowledged and lost']++;
        }
        logFigures(`regenerate racing a ${writeName} (${storeName})`, counts);
        expect(counts['acknowledged and lost']).toBe(0);
        expect(errors).toEqual([]);
      } finally {
        await sessions.close();
      }
    });
  }
}

test.each(Object.keys(stores))('%s: a request still carrying the old cookie after regenerate() gets no session and sets no cookie', async (name) => {
  const { sessions } = testManager(stores[name]!());
  try {
    const oldId = await newSession(sessions);
    const login = requestFor(oldId);
    const moved = await handleFor(sessions, login.transport).regenerate();
    await login.end();
    expect(moved.id).not.toBe(oldId);

    // load(): nothing, and no cookie over the new one.
    const reading = requestFor(oldId);
    expect(await handleFor(sessions, reading.transport).load()).toBeNull();
    await reading.end();
    expect(reading.cookies).toEqual([]);

    // start(), regenerate(), destroy(): SessionGoneError, and no fresh anonymous cookie (nor an expired one) that,
    // applied last by the browser, would replace the new ID and log the user out.
    for (const operation of ['start', 'regenerate', 'destroy'] as const) {
      const request = requestFor(oldId);
      await expect(handleFor(sessions, request.transport)[operation]()).rejects.toBeInstanceOf(SessionGoneError);
      await request.end();
      expect(request.cookies).toEqual([]);
    }
    // The new session is untouched.
    expect((await stored(sessions, moved.id))?.visits).toBe(0);
  } finally {
    await sessions.close();
  }
});
