import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import * as z from 'zod';
import { decodeValue, encodeValue } from '../src/codec.js';
import { createSessionManager, memoryStore, type Session } from '../src/index.js';
import { realisticBasket } from './basket.js';

export interface MicroResult {
  name: string;
  nsPerOp: number;
  /** Encoded size, for the codec rows. */
  bytes?: number;
}

/** Median ns per call of `fn` over several timed batches, after a warm-up batch. */
function measure(fn: () => unknown, iterations: number): number {
  const samples: number[] = [];
  let sink: unknown;
  for (let batch = 0; batch < 7; batch++) {
    const start = process.hrtime.bigint();
    for (let index = 0; index < iterations; index++) sink = fn();
    const elapsed = Number(process.hrtime.bigint() - start);
    if (batch > 0) samples.push(elapsed / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink); // keeps the calls from being optimized away
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** As `measure`, for a call that returns a promise: each call awaited before the next. */
async function measureAsync(fn: () => Promise<unknown>, iterations: number): Promise<number> {
  const samples: number[] = [];
  for (let batch = 0; batch < 7; batch++) {
    const start = process.hrtime.bigint();
    for (let index = 0; index < iterations; index++) await fn();
    const elapsed = Number(process.hrtime.bigint() - start);
    if (batch > 0) samples.push(elapsed / iterations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** The session codec (msgpackr, as configured in src/codec.ts) against JSON, on a realistic basket. */
export function codecBenchmarks(scale = 1): MicroResult[] {
  const basket = realisticBasket();
  const packed = encodeValue(basket);
  const json = JSON.stringify(basket);
  const iterations = Math.round(20_000 * scale);
  return [
    { name: 'msgpackr encode (basket)', nsPerOp: measure(() => encodeValue(basket), iterations), bytes: packed.length },
    { name: 'msgpackr decode (basket)', nsPerOp: measure(() => decodeValue(packed), iterations), bytes: packed.length },
    { name: 'JSON.stringify (basket)', nsPerOp: measure(() => JSON.stringify(basket), iterations), bytes: Buffer.byteLength(json) },
    { name: 'JSON.parse (basket)', nsPerOp: measure(() => JSON.parse(json), iterations), bytes: Buffer.byteLength(json) },
  ];
}

/**
 * What `sessions.createContext` adds to a call that never touches its session, over a context without one:
 * real Node request and response objects, a cookie on the request, no I/O.
 */
export function contextBenchmarks(scale = 1): MicroResult[] {
  const sessions = createSessionManager({ schema: z.object({ counter: z.number().default(0) }), store: memoryStore() });
  const req = new IncomingMessage(new Socket());
  req.headers = { cookie: `sid=${'a'.repeat(32)}; theme=dark` };
  const res = new ServerResponse(req);
  const iterations = Math.round(200_000 * scale);
  const withoutSession = measure(() => ({ req, res }), iterations);
  const withSession = measure(() => sessions.createContext({ req, res }), iterations);
  return [
    { name: 'context without session', nsPerOp: withoutSession },
    { name: 'sessions.createContext (never touched)', nsPerOp: withSession },
  ];
}

/**
 * The library's own work for one request, without HTTP or Redis: `createContext`, `start()`, the procedure's
 * read or write, and the write after the response, over the memory store, with real Node request and response
 * objects. What the comparison's trpc-session rows spend beyond this is the transport and the round trips.
 */
export async function requestCycleBenchmarks(scale = 1): Promise<MicroResult[]> {
  const line = z.object({ productId: z.string(), name: z.string(), quantity: z.number().int().positive(), unitPrice: z.number(), addedAt: z.number() });
  const basket = z.object({ userId: z.string(), currency: z.string(), coupon: z.string().optional(), items: z.array(line) });
  const schema = z.object({ counter: z.number().int().default(0), visits: z.number().int().default(0), basket: basket.optional() });
  const store = memoryStore({ maxSessions: 1_000_000 });
  const sessions = createSessionManager({ schema, store, onError: (error) => console.error(error) });
  const cycle = async (cookie: string | undefined, work: (session: Session<typeof schema>) => void) => {
    const req = new IncomingMessage(new Socket());
    req.headers = cookie === undefined ? {} : { cookie };
    const res = new ServerResponse(req);
    const { session } = sessions.createContext({ req, res });
    work(await session.start());
    res.emit('finish');
    // The memory store answers within microtasks: the write after the response has landed by the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    return res;
  };
  const first = await cycle(undefined, (session) => {
    session.data.put('visits', 1);
    session.data.put('basket', realisticBasket());
  });
  const cookie = String(first.getHeader('set-cookie')).split(';')[0]!;
  const iterations = Math.round(5_000 * scale);
  const results: MicroResult[] = [
    { name: 'request cycle, memory store: read', nsPerOp: await measureAsync(() => cycle(cookie, (session) => session.data.get('counter')), iterations) },
    {
      name: 'request cycle, memory store: read and write',
      nsPerOp: await measureAsync(() => cycle(cookie, (session) => session.data.put('counter', session.data.get('counter') + 1)), iterations),
    },
    {
      name: 'request cycle, memory store: read the basket',
      nsPerOp: await measureAsync(() => cycle(cookie, (session) => session.data.get('basket')?.items.length), iterations),
    },
    {
      // Changed in place, as a shop does: noticed, validated and written after the response.
      name: 'request cycle, memory store: change the basket',
      nsPerOp: await measureAsync(() => cycle(cookie, (session) => void session.data.get('basket')!.items[0]!.quantity++), iterations),
    },
    // Last: the 35,000 sessions it leaves in the store's heap made every later row pay for their GC.
    { name: 'request cycle, memory store: new session', nsPerOp: await measureAsync(() => cycle(undefined, (session) => session.data.put('visits', 1)), iterations) },
  ];
  await store.close();
  return results;
}
