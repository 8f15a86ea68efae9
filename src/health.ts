import { SessionStoreUnavailableError } from './errors.js';
import { createSessionId } from './id.js';
import type { SessionRuntime } from './options.js';

/**
 * What `sessions.health()` found: the store answered (`latencyMs`: how long it took), or not, and why. The
 * `reason` may name the store's host and port: log it, do not send it to the prober's clients.
 */
export type SessionStoreHealth = { ok: true; latencyMs: number } | { ok: false; reason: string };

/**
 * Asks the store whether it answers, within `healthTimeout`: its `ping()`, or (a store without one) a read of
 * an ID no session has. Creates no session and writes nothing. Never rejects.
 */
export async function storeHealth(runtime: SessionRuntime): Promise<SessionStoreHealth> {
  const { store, healthTimeoutMs } = runtime;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<SessionStoreHealth>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${healthTimeoutMs} ms` }), healthTimeoutMs);
  });
  const asked = (async (): Promise<SessionStoreHealth> => {
    try {
      await (store.ping === undefined ? store.load(createSessionId(), Date.now()) : store.ping());
      return { ok: true, latencyMs: performance.now() - started };
    } catch (error) {
      return { ok: false, reason: error instanceof SessionStoreUnavailableError ? error.reason : 'the store failed' };
    }
  })();
  try {
    return await Promise.race([asked, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
