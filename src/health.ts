import { SessionStoreUnavailableError } from './errors.js';
import { createSessionId } from './id.js';
import type { SessionRuntime } from './options.js';
import type { SessionStoreHealth } from './session-api.js';

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
