/**
 * One row of `npm run bench -- --instructions`, run by `bench/instructions.ts` under callgrind: the request
 * cycle of `bench/micro.ts` (real IncomingMessage/ServerResponse, createContext, start(), the procedure's work,
 * the write after the response), `warm-up` times, then `measured` times between two checkpoints. Bundled once per
 * library version, the library imported as `trpc-session-under-test`, so the same harness measures a base
 * commit and this one.
 *
 *   node --predictable <bundle> <row> <warm-up> <measured> [redis port]
 */
import { writeSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Redis } from 'ioredis';
import * as z from 'zod';
// @ts-expect-error resolved by the bundler to the src/index.ts of the version measured
import { createSessionManager, memoryStore, redisStore } from 'trpc-session-under-test';
import { realisticBasket } from './basket.js';
import { WINDOW_END, WINDOW_START } from './instructions-window.js';

type Work = (session: any) => void;
const WORK: Record<string, Work | null> = {
  harness: null,
  untouched: null,
  read: (session) => session.data.get('counter'),
  'read and write': (session) => session.data.put('counter', session.data.get('counter') + 1),
  'new session': (session) => session.data.put('visits', 1),
  'read the basket': (session) => session.data.get('basket')?.items.length,
  'change the basket': (session) => void session.data.get('basket')!.items[0]!.quantity++,
};

const [row, warmUpText, measuredText, port] = process.argv.slice(2);
const work = WORK[row!];
if (work === undefined) throw new Error(`unknown row ${row}`);
const [warmUp, measured] = [Number(warmUpText), Number(measuredText)];

const line = z.object({ productId: z.string(), name: z.string(), quantity: z.number().int().positive(), unitPrice: z.number(), addedAt: z.number() });
const basket = z.object({ userId: z.string(), currency: z.string(), coupon: z.string().optional(), items: z.array(line) });
const schema = z.object({ counter: z.number().int().default(0), visits: z.number().int().default(0), basket: basket.optional() });

/** Store calls not settled yet: on Redis, the write after the response is awaited through them. */
const pending = new Set<Promise<unknown>>();
/** The store with each call's promise kept in `pending`, whatever the store contract of the version measured. */
function tracked<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver);
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => {
        const result = member.apply(target, args);
        if (result instanceof Promise) {
          pending.add(result);
          const settled = () => pending.delete(result);
          result.then(settled, settled);
        }
        return result;
      };
    },
  });
}

const redis = port === undefined ? null : new Redis({ port: Number(port), host: '127.0.0.1' });
// Under callgrind a collection can stop the process for seconds between a command and its reply; timers run
// before the socket is read, so the default 1 s command timeout failed calls whose reply had come. The timer is
// set and cleared as ever; only its length differs.
const store = redis === null ? memoryStore({ maxSessions: 1_000_000 }) : tracked(redisStore({ redis, commandTimeout: 600_000 }));
// A loaded session's expiry is refreshed once `touchAfter` has passed on the clock (60 s by default): under
// callgrind a run lasts minutes, and the refresh would fall on other cycles in each run. Never, here.
const sessions = createSessionManager({ schema, store, touchAfter: 365 * 24 * 3600, onError: (error: unknown) => console.error(error) });

async function cycle(cookie: string | undefined, work: Work | null, context: boolean) {
  const req = new IncomingMessage(new Socket());
  req.headers = cookie === undefined ? {} : { cookie };
  const res = new ServerResponse(req);
  if (context) {
    const { session } = sessions.createContext({ req, res });
    if (work !== null) work(await session.start());
  }
  res.emit('finish');
  // The memory store answers within microtasks: the write after the response has landed by the next turn.
  await new Promise((resolve) => setImmediate(resolve));
  while (pending.size > 0) await Promise.allSettled([...pending]);
  return res;
}

const first = await cycle(
  undefined,
  (session) => {
    session.data.put('visits', 1);
    session.data.put('basket', realisticBasket());
  },
  true,
);
const cookie = String(first.getHeader('set-cookie')).split(';')[0]!;
const sent = row === 'new session' ? undefined : cookie;
/**
 * In a function of its own, not in the module's body: the bundle's body holds every module's top-level code,
 * and resumed after each cycle it would be optimized (a costly compilation) during the measured window.
 */
async function cycles(count: number) {
  for (let index = 0; index < count; index++) await cycle(sent, work!, row !== 'harness');
}
await cycles(warmUp);
// The measured window: callgrind dumps its counts as each checkpoint is entered (see bench/instructions.ts). The
// marks around it, written straight to the file descriptor (no stream to set up), frame what V8's tracing of
// compilations prints during it.
writeSync(1, `${WINDOW_START}\n`);
// An empty young generation: the window's scavenges then fall at the same cycles in every process, whatever
// start-up allocated (which varies, with the order the modules load in).
(globalThis as { gc?: (options: { type: 'minor' }) => void }).gc!({ type: 'minor' });
process.cpuUsage();
await cycles(measured);
process.cpuUsage();
writeSync(1, `${WINDOW_END}\n`);
redis?.disconnect();
