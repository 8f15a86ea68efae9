import { readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import * as z from 'zod';
import { sessionRef } from '../src/id.js';
import { createSessionManager, redisStore, type SessionContext, type SessionError, type SessionManager } from '../src/index.js';
import { eventually } from './helpers/fixture.js';
import { handleFor, requestFor } from './helpers/request.js';
import { CookieJar, listen, trpcClient, type Served } from './helpers/http.js';
import { freePort, startRedis, type RedisServer } from './helpers/redis-server.js';

/*
 * `telemetry: true` over real HTTP and a real Redis, seen through OpenTelemetry's own SDK with its in-memory
 * exporters: a span per session operation, nested under the request's span, with its outcome and never an ID
 * or data; and the metrics.
 */

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const schema = z.object({ secret: z.string().optional(), counter: z.number().int().default(0) });
/** Stored in every session: it must never reach a span. */
const DATA = 'data-that-must-not-leak';
const USER = 'user-that-must-not-leak@example.com';
const ROUNDS = process.env['TRPC_SESSION_STRESS'] === '1' ? 1_500 : 150;

let redis: RedisServer;
let served: Served;
let sessions: SessionManager<typeof schema>;
const errors: SessionError[] = [];
beforeAll(async () => {
  redis = await startRedis();
  sessions = createSessionManager({ schema, store: redisStore({ redis: () => redis.client() }), telemetry: true, onError: (error) => errors.push(error) });
  const t = initTRPC.context<SessionContext<typeof schema>>().create();
  const procedure = t.procedure.concat(sessions.procedure);
  const router = t.router({
    start: procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.start();
      session.data.put('secret', DATA);
      return session.id;
    }),
    read: procedure.query(async ({ ctx }) => (await ctx.session.load())?.data.get('secret') ?? null),
    login: procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.regenerate();
      await session.bindUser(USER);
      return session.id;
    }),
    devices: procedure.query(() => sessions.userSessions(USER)),
    revoke: procedure.input(z.string()).mutation(({ input }) => sessions.revokeSession(USER, input)),
    logout: procedure.mutation(({ ctx }) => ctx.session.destroy()),
  });
  // The request's own span, as HTTP instrumentation makes it: the session's spans must nest under it.
  const tracer = trace.getTracer('test');
  const handler = createHTTPHandler({ router, createContext: sessions.createContext });
  served = await listen(
    createServer((req, res) =>
      tracer.startActiveSpan('request', (span) => {
        res.on('close', () => setTimeout(() => span.end(), 50));
        handler(req, res);
      }),
    ),
  );
});
afterAll(async () => {
  await served?.close();
  await sessions?.close();
  await redis?.stop(true);
});
beforeEach(() => spans.reset());

type Attributes = ReadableSpan['attributes'];
const named = (name: string) => spans.getFinishedSpans().filter((span) => span.name === name);
const outcomes = (name: string) => named(name).map((span) => span.attributes['trpc_session.outcome']);

/** Sums a counter, or counts a histogram's recordings, over every attribute set, as the exporter has them now. */
async function metric(name: string): Promise<number> {
  metricExporter.reset();
  await reader.forceFlush();
  let total = 0;
  for (const resource of metricExporter.getMetrics()) {
    for (const scope of resource.scopeMetrics) {
      for (const data of scope.metrics) {
        if (data.descriptor.name !== name) continue;
        for (const point of data.dataPoints) total += typeof point.value === 'number' ? point.value : (point.value as { count: number }).count;
      }
    }
  }
  return total;
}

/** Every attribute of every span, as text: none may hold a session ID, the user ID or session data. */
function assertNothingLeaks(ids: readonly string[]): void {
  const texts = spans.getFinishedSpans().flatMap((span) => [span.name, ...Object.values(span.attributes as Attributes).map(String), span.status.message ?? '']);
  for (const text of texts) {
    for (const id of ids) expect(text).not.toContain(id.slice(0, 8));
    expect(text).not.toContain(DATA);
    expect(text).not.toContain(USER);
  }
}

test("a request's session work shows as spans under the request's span: load, commit, regenerate, destroy, the user-level operations", async () => {
  const jar = new CookieJar();
  const client = trpcClient<never>(served.url, jar, 'single') as any;
  const createdBefore = await metric('trpc_session.sessions.created');
  const id: string = await client.start.mutate();
  await eventually(() => expect(named('trpc-session.commit')).toHaveLength(1));
  const [commit] = named('trpc-session.commit');
  expect(commit!.attributes).toMatchObject({ 'trpc_session.outcome': 'written', 'trpc_session.fields_written': 1, 'trpc_session.create': true, 'trpc_session.ref': sessionRef(id) });
  await eventually(() => expect(named('request')).toHaveLength(1));
  const [request] = named('request');
  expect(commit!.spanContext().traceId).toBe(request!.spanContext().traceId);
  expect(commit!.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
  expect(await metric('trpc_session.sessions.created')).toBe(createdBefore + 1);

  spans.reset();
  expect(await client.read.query()).toBe(DATA);
  await eventually(() => expect(outcomes('trpc-session.load')).toEqual(['found']));
  // A read writes nothing.
  expect(named('trpc-session.commit')).toEqual([]);

  spans.reset();
  const newId: string = await client.login.mutate();
  await eventually(() => expect(named('trpc-session.regenerate')).toHaveLength(1));
  const [regenerate] = named('trpc-session.regenerate');
  expect(regenerate!.attributes).toMatchObject({ 'trpc_session.outcome': 'done', 'trpc_session.ref': sessionRef(newId) });
  const moved = named('trpc-session.store.moveOut')[0]!;
  expect(moved.parentSpanContext?.spanId).toBe(regenerate!.spanContext().spanId);
  expect(named('trpc-session.commit').find((span) => span.parentSpanContext?.spanId === regenerate!.spanContext().spanId)?.attributes).toMatchObject({
    'trpc_session.outcome': 'written',
    'trpc_session.create': true,
  });

  const devices: { ref: string }[] = await client.devices.query();
  expect(devices).toHaveLength(1);
  expect(named('trpc-session.userSessions')).toHaveLength(1);
  expect(await client.revoke.mutate('not-a-ref')).toBe(false);
  await eventually(() => expect(named('trpc-session.revokeSession').map((span) => span.attributes['trpc_session.sessions_ended'])).toEqual([0]));

  spans.reset();
  await client.logout.mutate();
  await eventually(() => expect(outcomes('trpc-session.destroy')).toEqual(['done']));
  expect(named('trpc-session.store.destroy')[0]!.parentSpanContext?.spanId).toBe(named('trpc-session.destroy')[0]!.spanContext().spanId);
  expect(await metric('trpc_session.load.duration')).toBeGreaterThanOrEqual(2);
  expect(await metric('trpc_session.commit.duration')).toBeGreaterThanOrEqual(2);
  assertNothingLeaks([id, newId]);
  expect(errors).toEqual([]);
});

test('conflicts between two processes are counted, each retried, and the commit and update spans tell them', async () => {
  // A second manager on the same Redis: another process, with field locks of its own.
  const other = createSessionManager({ schema, store: redisStore({ redis: () => redis.client() }), telemetry: true });
  const conflictsBefore = await metric('trpc_session.conflicts');
  const retriesBefore = await metric('trpc_session.retries');
  const jar = new CookieJar();
  const client = trpcClient<never>(served.url, jar, 'single') as any;
  const id: string = await client.start.mutate();
  let sums = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Both loaded before either updates: the second compare-and-set finds the first one's value.
    const [first, second] = await Promise.all([handleFor(sessions, requestFor(id).transport).start(), handleFor(other, requestFor(id).transport).start()]);
    await Promise.all([first.data.update('counter', (value) => value + 1), second.data.update('counter', (value) => value + 1)]);
    sums += 2;
  }
  const final = await handleFor(sessions, requestFor(id).transport).start();
  expect(final.data.get('counter')).toBe(sums);
  const conflicts = (await metric('trpc_session.conflicts')) - conflictsBefore;
  const retries = (await metric('trpc_session.retries')) - retriesBefore;
  expect(conflicts).toBeGreaterThanOrEqual(ROUNDS);
  expect(retries).toBe(conflicts);
  expect(outcomes('trpc-session.update').filter((outcome) => outcome === 'conflict')).toHaveLength(conflicts);
  console.log(`[telemetry] ${ROUNDS} rounds of two updates from two processes: conflicts ${conflicts}, retries ${retries}, lost updates 0`);
  await other.close();
});

test('a store outage is counted once and each failed load is told as store unavailable', async () => {
  const outagesBefore = await metric('trpc_session.store.outages');
  const jar = new CookieJar();
  const client = trpcClient<never>(served.url, jar, 'single') as any;
  await client.start.mutate();
  await redis.stop(true);
  try {
    for (let attempt = 0; attempt < 3; attempt++) await expect(client.read.query()).rejects.toThrow();
    await eventually(() => expect(outcomes('trpc-session.load').filter((outcome) => outcome === 'store unavailable').length).toBeGreaterThanOrEqual(3));
    expect(await metric('trpc_session.store.outages')).toBe(outagesBefore + 1);
  } finally {
    await redis.start();
  }
});

test('without the option nothing of OpenTelemetry is imported: only src/telemetry.ts refers to it, and only by a lazy import', () => {
  const src = resolve(import.meta.dirname, '../src');
  const files = (readdirSync(src, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts'));
  for (const file of files) {
    const text = readFileSync(resolve(src, file), 'utf8');
    const runtimeImports = text.match(/^import (?!type )[^;]*'@opentelemetry\/[^']+'/gm) ?? [];
    expect(runtimeImports, file).toEqual([]);
    if (file !== 'telemetry.ts') expect(text, file).not.toContain("'@opentelemetry/");
  }
  expect(readFileSync(resolve(src, 'telemetry.ts'), 'utf8')).toContain("import('@opentelemetry/api')");
  const manifest = JSON.parse(readFileSync(resolve(src, '../package.json'), 'utf8'));
  expect(manifest.peerDependenciesMeta['@opentelemetry/api']).toEqual({ optional: true });
});

test("the README's example prints a request's spans, the session's under the request's own", async () => {
  const port = await freePort();
  const example = spawn(process.execPath, ['--import', 'tsx', 'examples/telemetry.ts'], {
    cwd: resolve(import.meta.dirname, '..'),
    env: { ...process.env, REDIS_URL: redis.url, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  example.stdout!.on('data', (chunk) => (output += chunk));
  example.stderr!.on('data', (chunk) => (output += chunk));
  try {
    const visit = (cookie?: string) =>
      fetch(`http://127.0.0.1:${port}/visit`, { method: 'POST', headers: { 'content-type': 'application/json', ...(cookie === undefined ? {} : { cookie }) } });
    let first: Response | undefined;
    await eventually(async () => {
      first = await visit();
      expect(first.status).toBe(200);
    }, 20_000);
    const cookie = first!.headers.get('set-cookie')!.split(';')[0]!;
    expect(await (await visit(cookie)).json()).toMatchObject({ result: { data: 2 } });
    // ConsoleSpanExporter prints each span with its traceId before its name.
    const printed = () => [...output.matchAll(/traceId: '(\w+)',[\s\S]*?name: '([^']+)'/g)].map(([, traceId, name]) => ({ traceId, name }));
    // Both visits' request spans end 100 ms after their responses.
    await eventually(() => expect(printed().filter((span) => span.name === 'POST /visit')).toHaveLength(2));
    const load = printed().find((span) => span.name === 'trpc-session.load')!;
    const commits = printed().filter((span) => span.name === 'trpc-session.commit');
    // The second visit's load and commit share the trace of its request span.
    expect(commits.map((commit) => commit.traceId)).toContain(load.traceId);
    expect(printed().filter((span) => span.name === 'POST /visit').map((span) => span.traceId)).toContain(load.traceId);
    expect(output).toContain("'trpc_session.outcome': 'written'");
  } finally {
    example.kill('SIGKILL');
  }
}, 60_000);
