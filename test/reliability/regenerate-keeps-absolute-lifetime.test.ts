import { expect, test } from 'vitest';
import { SessionGoneError } from '../../src/index.js';
import { testManager } from '../helpers/app.js';
import { handleFor, requestFor, useStores } from '../helpers/request.js';
import { logFigures } from './support/figures.js';

const { stores } = useStores();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test.each(Object.keys(stores))('%s: regenerating a session never extends its absolute lifetime', async (name) => {
  const store = stores[name]!();
  const absoluteSeconds = 1;
  const { sessions } = testManager(store, { absoluteLifetime: absoluteSeconds, touchAfter: 0 });
  try {
    const first = requestFor();
    const created = await handleFor(sessions, first.transport).start();
    created.data.put('counter', 1);
    await first.end();
    const createdAt = created.meta.createdAt.getTime();
    let id = created.id;
    let regenerations = 0;
    // Regenerate as often as possible: each move keeps the creation time, so the session still ends once the
    // absolute lifetime since its creation has passed, however busy it is.
    for (;;) {
      const request = requestFor(id);
      const handle = handleFor(sessions, request.transport);
      const loaded = await handle.load();
      if (loaded === null) break;
      // The lifetime may run out between the read and the move: the move then finds the session gone.
      const moved = await handle.regenerate().catch((error: unknown) => {
        if (error instanceof SessionGoneError) return null;
        throw error;
      });
      if (moved === null) break;
      expect(moved.meta.createdAt.getTime()).toBe(createdAt);
      // The new cookie never outlives what is left of the absolute lifetime (rounded up to a whole second).
      const maxAge = Number(/Max-Age=(\d+)/.exec(request.cookies.at(-1)!)![1]);
      expect(maxAge).toBeLessThanOrEqual(absoluteSeconds);
      await request.end();
      id = moved.id;
      regenerations++;
      await sleep(50);
    }
    // Ended (the loop only leaves when the record is gone), and not before its lifetime was over.
    expect(Date.now() - createdAt).toBeGreaterThanOrEqual(absoluteSeconds * 1000);
    expect(regenerations).toBeGreaterThan(0);
    logFigures(`regenerate keeps the absolute lifetime (${name})`, { regenerations, 'ended after the absolute lifetime': 1 });
  } finally {
    await sessions.close();
  }
});
