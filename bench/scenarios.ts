import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import { browser } from '../test/helpers/http.js';
import type { BenchRouter } from './router.js';

/** One HTTP request as a real tRPC client sends it, ready to replay with autocannon. */
export interface RecordedRequest {
  method: string;
  /** Path and query, from the server's origin. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Scenario {
  name: string;
  /** What the call does, for the report. */
  description: string;
  /** Whether the client sends its session cookie (false: a first visit). */
  withCookie: boolean;
  link: 'single' | 'batch';
  call(client: TRPCClient<BenchRouter>): Promise<unknown>;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'untouched',
    description: 'a query that never touches the session (cookie sent)',
    withCookie: true,
    link: 'single',
    call: (client) => client.ping.query(),
  },
  {
    name: 'read',
    description: 'a query reading the counter from the session',
    withCookie: true,
    link: 'single',
    call: (client) => client.counter.query(),
  },
  {
    name: 'write',
    description: 'a mutation incrementing the counter in the session',
    withCookie: true,
    link: 'single',
    call: (client) => client.increment.mutate(),
  },
  {
    name: 'new session',
    description: 'a mutation starting a session for a client without cookie, recording its first visit',
    withCookie: false,
    link: 'single',
    call: (client) => client.begin.mutate(),
  },
  {
    name: 'batch',
    description: 'five increments in one httpBatchLink request',
    withCookie: true,
    link: 'batch',
    call: (client) => Promise.all([1, 2, 3, 4, 5].map(() => client.increment.mutate())),
  },
];

/** Makes the scenario's call with a real tRPC client against `url` and returns the request it sent. */
export async function recordRequest(url: string, scenario: Scenario): Promise<RecordedRequest> {
  const origin = new URL(url).origin;
  let recorded: RecordedRequest | undefined;
  const recordingFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const target = new URL(String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    recorded = { method: init?.method ?? 'GET', path: target.pathname + target.search, headers };
    if (typeof init?.body === 'string') recorded.body = init.body;
    const response = await fetch(input, init);
    if (!response.ok) throw new Error(`${scenario.name} on ${url}: HTTP ${response.status} ${await response.text()}`);
    return response;
  };
  const makeLink = scenario.link === 'batch' ? httpBatchLink : httpLink;
  const client = createTRPCClient<BenchRouter>({ links: [makeLink({ url: url, fetch: recordingFetch })] });
  await scenario.call(client);
  if (recorded === undefined) throw new Error(`${scenario.name}: no request was sent`);
  if (!recorded.path.startsWith('/')) throw new Error(`${scenario.name}: unexpected URL from ${origin}`);
  return recorded;
}

/**
 * One live session per load-generator connection, each started by a real client through `begin`, as the
 * `Cookie` header the client would send next. A variant that keeps no session gets a cookie of the same
 * form, so every variant parses the same header.
 */
export async function createSessionPool(url: string, size: number): Promise<string[]> {
  const pool: string[] = [];
  for (let index = 0; index < size; index++) {
    const { client, jar } = browser<BenchRouter>(url, 'single');
    await client.begin.mutate();
    pool.push(jar.header() ?? `sid=${Buffer.from(String(index).padStart(24, '0')).toString('base64url')}`);
  }
  return pool;
}
