import { afterAll, beforeAll } from 'vitest';
import { httpSession } from '../../src/commit.js';
import { memoryStore, redisStore, type SessionStore } from '../../src/index.js';
import type { SessionManager } from '../../src/manager.js';
import { runtimeOf } from '../../src/options.js';
import type { NoFlash, SessionSchema } from '../../src/schema.js';
import type { SessionHandle } from '../../src/session-api.js';
import type { SessionTransport } from '../../src/transport.js';
import { startRedis, type RedisServer } from './redis-server.js';

/**
 * The transport an adapter would build for a request carrying `sid=id` (or no cookie), over HTTPS when
 * `secure`; `cookies` collects the `Set-Cookie` values the core asks for, and `end` reports the response
 * finished, which is when an after-response write runs.
 */
export function requestFor(id?: string, secure = false): { transport: SessionTransport; cookies: string[]; end(): Promise<void> } {
  const listeners: (() => Promise<unknown>)[] = [];
  const cookies: string[] = [];
  const transport: SessionTransport = {
    cookieHeader: id === undefined ? undefined : `sid=${id}`,
    secure,
    cookieBlockedReason: null,
    setCookie: (header) => cookies.push(header),
    onEnd: (listener) => listeners.push(listener),
  };
  return { transport, cookies, end: async () => void (await Promise.all(listeners.map((listener) => listener()))) };
}

/** `ctx.session` over `transport`, as an HTTP adapter would hand it to a procedure. */
export function handleFor<S extends SessionSchema, F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, 'session', F>,
  transport: SessionTransport,
): SessionHandle<S, F> {
  return httpSession<S>(runtimeOf(sessions), transport) as SessionHandle<S, F>;
}

/**
 * The two stores a reliability property is checked on, by name: Redis over a throwaway `redis-server` this
 * file starts (and stops), and the memory store. `redis()` is that server, once the file's tests run.
 */
export function useStores(): { stores: Record<string, () => SessionStore>; redis(): RedisServer } {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop(true));
  return {
    stores: { redis: () => redisStore({ redis: () => server.client() }), memory: () => memoryStore() },
    redis: () => server,
  };
}
