import { Agent } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { redisStore } from '../../src/index.js';
import { router, testManager } from '../helpers/app.js';
import { eventually } from '../helpers/fixture.js';
import { serveStandalone, type Served } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { cookieCases, signedValue, type CookieCase } from './support/cookie-cases.js';
import { forEachConcurrently, logFigures, scaled } from './support/figures.js';
import { asWireString, get, rawGet, sendableHeaderValue, type RawResponse } from './support/raw-http.js';

const CASES_PER_MODE = scaled(6_500, 50_000);
const CONCURRENCY = 16;
const SECRET = 'fuzz-secret-0123456789abcdef-0123456789';
/** A batch of two calls over one handle: `peek` loads only (a lookup when the ID is well-formed), `read` starts. */
const PATH = `/peek,read?batch=1&input=${encodeURIComponent('{}')}`;
const ID = /^[A-Za-z0-9_-]{32}$/;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop(true));

interface Outcome {
  reachedApp: number;
  refusedByParser: number;
  failures: string[];
}

/** Checks one response: a whole tRPC batch answer, no session for the sent cookie, a new ID never seen in it. */
function checkAnswer(item: CookieCase, response: RawResponse, secret: string | undefined): string | null {
  if (response.status !== 200) return `status ${response.status}: ${response.body.slice(0, 200)}`;
  if (!String(response.headers['content-type']).startsWith('application/json')) return `content-type ${response.headers['content-type']}`;
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    return `not JSON: ${response.body.slice(0, 200)}`;
  }
  const [peek, read] = body as [{ result?: { data?: unknown } }, { result?: { data?: { id?: string; counter?: number } } }];
  if (!Array.isArray(body) || body.length !== 2 || peek?.result?.data !== null) return `peek answered ${JSON.stringify(body).slice(0, 200)}`;
  const id = read?.result?.data?.id;
  if (typeof id !== 'string' || !ID.test(id) || read.result?.data?.counter !== 0) return `read answered ${JSON.stringify(body).slice(0, 200)}`;
  if (item.header.includes(id)) return 'the ID the client sent was adopted';
  const value = secret === undefined ? id : signedValue(id, secret);
  const cookies = response.headers['set-cookie'] ?? [];
  if (!cookies.some((cookie) => cookie.startsWith(`sid=${value};`))) return `no cookie for the new session: ${cookies.join(' | ')}`;
  return null;
}

async function fuzz(secret: string | undefined, seed: number): Promise<Outcome & { cases: CookieCase[] }> {
  const client = redis.client();
  const { sessions, errors } = testManager(redisStore({ redis: client }), { secrets: secret === undefined ? undefined : [secret] });
  const served: Served = await serveStandalone(router, sessions.createContext);
  const port = Number(new URL(served.url).port);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const cases = fc.sample(cookieCases(secret), { numRuns: CASES_PER_MODE, seed });
  const outcome: Outcome = { reachedApp: 0, refusedByParser: 0, failures: [] };
  try {
    // Load the write script once (the warm-up starts a session), so the counts below are of EVALSHA only.
    const warmUp = 'A'.repeat(32);
    await get(served.url + PATH, { cookie: `sid=${secret === undefined ? warmUp : signedValue(warmUp, secret)}` }, agent);
    await eventually(async () => expect((await redis.commandStats())['exists']).toBeGreaterThan(0));
    await redis.resetStats();

    await forEachConcurrently(cases, CONCURRENCY, async (item) => {
      const wire = asWireString(item.header);
      if (sendableHeaderValue(wire)) {
        outcome.reachedApp++;
        const failure = checkAnswer(item, await get(served.url + PATH, { cookie: wire }, agent), secret);
        if (failure !== null) outcome.failures.push(`${item.kind} ${JSON.stringify(item.header).slice(0, 120)}: ${failure}`);
      } else {
        // Node's own parser answers 400 before any application code runs; nothing else may come back.
        const response = await rawGet(port, PATH, Buffer.from(wire, 'latin1'));
        if (response.status === 400 && response.body === '') outcome.refusedByParser++;
        else outcome.failures.push(`${item.kind} ${JSON.stringify(item.header).slice(0, 120)}: raw answer ${response.status}`);
      }
    });

    // Every answered batch started one new session, written after its response: wait for those writes.
    await eventually(async () => expect((await redis.commandStats())['exists']).toBe(outcome.reachedApp), 10_000);
    const stats = await redis.commandStats();
    const expectedLookups = cases.filter((item) => item.lookup && sendableHeaderValue(asWireString(item.header))).length;
    // Only a load sends HGETALL: one per lookup, none for a malformed or forged value. The EVALSHAs are the
    // new sessions' writes, one per answered request.
    expect(stats['hgetall'] ?? 0).toBe(expectedLookups);
    expect(stats['evalsha']).toBe(outcome.reachedApp);
    expect(stats['eval']).toBeUndefined();
    expect(outcome.failures.slice(0, 5)).toEqual([]);
    expect(errors).toEqual([]);
    expect((await get(`${served.url}/ping`, {}, agent)).status).toBe(200);

    const byKind = new Map<string, number>();
    for (const item of cases) byKind.set(item.kind, (byKind.get(item.kind) ?? 0) + 1);
    logFigures(`fuzzed cookies (${secret === undefined ? 'unsigned' : 'signed'})`, {
      cases: cases.length,
      'reached the app': outcome.reachedApp,
      'refused by Node parser (400)': outcome.refusedByParser,
      'lookups expected': expectedLookups,
      'lookups made (HGETALL)': stats['hgetall'] ?? 0,
      'malformed lookups': (stats['hgetall'] ?? 0) - expectedLookups,
      'IDs adopted': 0,
      'non-tRPC answers': 0,
      failures: outcome.failures.length,
      kinds: [...byKind].map(([kind, count]) => `${kind}=${count}`).join(' '),
    });
    return { ...outcome, cases };
  } finally {
    agent.destroy();
    await served.close();
    client.disconnect();
  }
}

const seed = Number(process.env.TRPC_SESSION_FUZZ_SEED ?? 20_260_101);

test(`unsigned cookies: ${CASES_PER_MODE} generated headers, no lookup for a malformed ID, no ID adopted`, async () => {
  await fuzz(undefined, seed);
}, 300_000);

test(`signed cookies: ${CASES_PER_MODE} generated headers, forged signatures cost no lookup`, async () => {
  await fuzz(SECRET, seed + 1);
}, 300_000);
