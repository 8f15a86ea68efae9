import autocannon from 'autocannon';
import type { RecordedRequest } from './scenarios.js';

export interface LoadOptions {
  connections: number;
  /** Seconds to run; ignored when `amount` is given. */
  duration: number;
  /** Requests to complete instead of a duration. */
  amount?: number;
}

export interface LoadResult {
  /** Responses completed. */
  requests: number;
  /** Requests sent, including those still in flight when the run stopped (their Redis commands count). */
  sent: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Errors, timeouts and non-2xx responses: any is a broken scenario, not a slow one. */
  failures: number;
}

/**
 * Replays `requests` in turn on every connection. With `cookies`, connection i sends `cookies[i % n]` on the
 * requests marked `withCookie`, so each connection is one client with its own session.
 */
export async function runLoad(
  origin: string,
  requests: readonly (RecordedRequest & { withCookie: boolean })[],
  cookies: readonly string[],
  options: LoadOptions,
): Promise<LoadResult> {
  let next = 0;
  const requestsFor = (cookie: string | undefined) =>
    requests.map(({ withCookie, ...request }) => ({
      ...request,
      method: request.method as autocannon.Request['method'],
      headers: withCookie && cookie !== undefined ? { ...request.headers, cookie } : { ...request.headers },
    }));
  const result = await autocannon({
    url: origin,
    connections: options.connections,
    duration: options.duration,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    requests: requestsFor(cookies[0]),
    setupClient: (client) => client.setRequests(requestsFor(cookies[next++ % Math.max(1, cookies.length)])),
  });
  return {
    requests: result.requests.total,
    sent: result.requests.sent,
    seconds: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}
