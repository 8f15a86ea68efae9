import { expect, test } from 'vitest';
import { encodeValue } from '../../src/codec.js';
import { redisStore, SessionFieldDroppedError, SessionSerializationError } from '../../src/index.js';
import { testManager } from '../helpers/app.js';
import { handleFor, requestFor, useStores } from '../helpers/request.js';
import { logFigures } from './support/figures.js';

const { stores, redis } = useStores();

/** Nests `depth` objects inside `root`, in place. */
function nestInPlace(root: Record<string, unknown>, depth: number): void {
  let current = root;
  for (let level = 0; level < depth; level++) current = (current['next'] = {}) as Record<string, unknown>;
}

test.each(Object.keys(stores))('%s: an object changed in place to nest thousands deep is refused with SessionSerializationError, before it is encoded', async (name) => {
  const { sessions, errors } = testManager(stores[name]!());
  const figures = { 'refused by persist()': 0, 'reported after the response': 0 };
  try {
    for (const depth of [100, 10_000, 200_000]) {
      // persist(): the caller gets the typed error.
      const request = requestFor();
      const handle = handleFor(sessions, request.transport);
      const session = await handle.start();
      session.data.put('extra', { list: [] });
      await handle.persist();
      nestInPlace(session.data.get('extra') as Record<string, unknown>, depth);
      const error = await handle.persist().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SessionSerializationError);
      expect((error as Error).message).toMatch(/nesting deeper than 64 levels/);
      figures['refused by persist()']++;
      await request.end();
      // The write after the response (the same change left pending) goes to onError, typed as well.
      expect(errors.at(-1)).toBeInstanceOf(SessionSerializationError);
      expect(errors.every((reported) => reported instanceof SessionSerializationError)).toBe(true);
      figures['reported after the response']++;
    }
    logFigures(`deep in-place changes (${name})`, figures);
  } finally {
    await sessions.close();
  }
});

test('a stored value that nests too deep is dropped with that reason, not as invalid msgpack', async () => {
  const client = redis().client();
  const { sessions, errors } = testManager(redisStore({ redis: client }));
  try {
    const first = requestFor();
    const session = await handleFor(sessions, first.transport).start();
    session.data.put('counter', 1);
    await first.end();
    const deep: Record<string, unknown> = {};
    nestInPlace(deep, 100);
    await client.hset(`session:${session.id}`, 'd:extra', Buffer.from(encodeValue(deep)));

    const reading = requestFor(session.id);
    const loaded = await handleFor(sessions, reading.transport).load();
    expect(loaded?.data.get('extra')).toBeUndefined();
    expect(loaded?.data.get('counter')).toBe(1);
    await reading.end();
    const dropped = errors.filter((error) => error instanceof SessionFieldDroppedError);
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.message).toMatch(/"extra" was dropped: its value is not one a session can hold \(nesting deeper than 64 levels\)$/);
    expect(dropped[0]!.message).not.toMatch(/msgpack/);
  } finally {
    await sessions.close();
    client.disconnect();
  }
});
