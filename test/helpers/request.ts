import { httpSession } from '../../src/commit.js';
import type { SessionManager } from '../../src/manager.js';
import { runtimeOf } from '../../src/options.js';
import type { SessionSchema } from '../../src/schema.js';
import type { SessionHandle } from '../../src/session-api.js';
import type { SessionTransport } from '../../src/transport.js';

/**
 * The transport an adapter would build for a request carrying `sid=id` (or no cookie), over HTTPS when
 * `secure`; `cookies` collects the `Set-Cookie` values the core asks for, and `end` reports the response
 * finished, which is when an after-response write runs.
 */
export function requestFor(id?: string, secure = false): { transport: SessionTransport; cookies: string[]; end(): Promise<void> } {
  const listeners: (() => Promise<void>)[] = [];
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
export function handleFor<S extends SessionSchema>(sessions: SessionManager<S>, transport: SessionTransport): SessionHandle<S> {
  return httpSession<S>(runtimeOf(sessions), transport);
}
