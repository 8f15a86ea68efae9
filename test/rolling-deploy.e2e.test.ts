import { fileURLToPath } from 'node:url';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CookieJar, trpcClient } from './helpers/http.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import type { RollingRouter } from './helpers/rolling-server-process.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/*
 * A rolling deploy never loses data. Version 1 and version 2 of the README's shop (the basket renamed from
 * `cartItems` to `cart`, migration 2) run in separate processes over one Redis, and one browser (one cookie jar)
 * talks to both. In each round a request to one version reads the session and is held there while the other
 * version reads and writes it; then the held request writes. Whatever each write was told, no acknowledged line
 * is missing from what version 2 reads afterwards, and the stored schema version never goes down.
 */

const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 1500 : 150;
const ENTRY = fileURLToPath(new URL('./helpers/rolling-server-process.ts', import.meta.url));

type Line = { productId: string; quantity: number };
const line = (productId: string): Line => ({ productId, quantity: 1 });

let redis: RedisServer;
let v1: ServerProcess;
let v2: ServerProcess;
beforeAll(async () => {
  redis = await startRedis();
  [v1, v2] = await Promise.all([startServerProcess(redis.port, ENTRY, { SCHEMA_VERSION: '1' }), startServerProcess(redis.port, ENTRY, { SCHEMA_VERSION: '2' })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([v1?.stop(), v2?.stop()]);
  await redis?.stop();
});

/** One browser, whose requests go to either version. */
function browser() {
  const jar = new CookieJar();
  // One request per call: a held call must not share an HTTP request with the calls that release it.
  return { v1: trpcClient<RollingRouter>(v1.url, jar, 'single'), v2: trpcClient<RollingRouter>(v2.url, jar, 'single') };
}

/** A write's answer: acknowledged, or the tRPC code it was refused with. */
async function told(write: Promise<unknown>): Promise<'ok' | string> {
  try {
    await write;
    return 'ok';
  } catch (error) {
    if (error instanceof TRPCClientError) return (error.data as { code: string }).code;
    throw error;
  }
}

interface Outcomes {
  /** Rounds where every acknowledged line is in the basket version 2 reads. */
  kept: number;
  /** Acknowledged lines missing afterwards, over all rounds. */
  acknowledgedLost: number;
  /** Rounds where the stored schema version went from 2 back to 1. */
  versionDown: number;
  /** Writes refused, by tRPC code. */
  refused: Record<string, number>;
}

describe.each(['put', 'update'] as const)('version 1 writing its basket with %s', (how) => {
  test(`version 1 reads, version 2 writes, then version 1 writes: nothing acknowledged is lost (${ROUNDS} rounds)`, async () => {
    const outcomes: Outcomes = { kept: 0, acknowledgedLost: 0, versionDown: 0, refused: {} };
    for (let round = 0; round < ROUNDS; round++) {
      const b = browser();
      const id = await b.v1.add.mutate({ item: line('beans'), how });
      const hold = `v1-first-${how}-${round}`;
      const held = told(b.v1.add.mutate({ item: line('rice'), how, hold }));
      await b.v1.reached.mutate(hold);
      expect(await told(b.v2.add.mutate({ item: line('eggs'), how }))).toBe('ok'); // migrates, and writes at version 2
      await b.v1.release.mutate(hold);
      const v1Write = await held;
      if (v1Write !== 'ok') outcomes.refused[v1Write] = (outcomes.refused[v1Write] ?? 0) + 1;
      const acknowledged = ['beans', 'eggs', ...(v1Write === 'ok' ? ['rice'] : [])];
      const basket = await b.v2.basket.query();
      const stored = await redisVersion(id);
      const missing = acknowledged.filter((product) => !basket?.lines.some((entry) => entry.productId === product));
      outcomes.acknowledgedLost += missing.length;
      if (stored < 2) outcomes.versionDown++;
      if (missing.length === 0) outcomes.kept++;
    }
    console.log(`[rolling deploy, v1 ${how}] v1 read, v2 write, v1 write`, JSON.stringify(outcomes));
    expect(outcomes).toEqual({ kept: ROUNDS, acknowledgedLost: 0, versionDown: 0, refused: { CONFLICT: ROUNDS } });
  }, 600_000);

  test(`version 2 reads, version 1 writes, then version 2 writes: nothing acknowledged is lost (${ROUNDS} rounds)`, async () => {
    const outcomes: Outcomes = { kept: 0, acknowledgedLost: 0, versionDown: 0, refused: {} };
    for (let round = 0; round < ROUNDS; round++) {
      const b = browser();
      const id = await b.v1.add.mutate({ item: line('beans'), how });
      const hold = `v2-first-${how}-${round}`;
      // A held put would replace the basket it read, by design (the last put wins): the held write appends.
      const held = told(b.v2.add.mutate({ item: line('eggs'), how: 'update', hold }));
      await b.v2.reached.mutate(hold);
      expect(await told(b.v1.add.mutate({ item: line('rice'), how }))).toBe('ok'); // the record is still version 1's
      await b.v2.release.mutate(hold);
      const v2Write = await held;
      if (v2Write !== 'ok') outcomes.refused[v2Write] = (outcomes.refused[v2Write] ?? 0) + 1;
      const acknowledged = ['beans', 'rice', ...(v2Write === 'ok' ? ['eggs'] : [])];
      const basket = await b.v2.basket.query();
      const missing = acknowledged.filter((product) => !basket?.lines.some((entry) => entry.productId === product));
      outcomes.acknowledgedLost += missing.length;
      if ((await redisVersion(id)) < 2) outcomes.versionDown++;
      if (missing.length === 0) outcomes.kept++;
    }
    console.log(`[rolling deploy, v1 ${how}] v2 read, v1 write, v2 write`, JSON.stringify(outcomes));
    expect(outcomes).toEqual({ kept: ROUNDS, acknowledgedLost: 0, versionDown: 0, refused: {} });
  }, 600_000);
});

/** The schema version stored in the session's record. */
async function redisVersion(id: string): Promise<number> {
  const client = redis.client();
  try {
    return Number(await client.hget(`session:${id}`, 'm:v'));
  } finally {
    client.disconnect();
  }
}
