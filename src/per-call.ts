import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { SessionUnavailableError, type SessionError } from './errors.js';
import type { SessionHandle } from './handle.js';
import type { SessionContext, SessionManager } from './manager.js';
import type { SessionSchema } from './schema.js';
import type { SessionCommit, SessionTransport } from './transport.js';

/**
 * What a context that serves many calls knows of its client (a WebSocket connection's upgrade request, a
 * server-side caller's cookie): a transport without the moment a response ends, since there is none.
 */
export type DetachedClient = Omit<SessionTransport, 'onCommit'>;

const MIDDLEWARE_MISSING =
  'This context serves many calls (a WebSocket connection or a server-side caller), so each call needs a ' +
  'session of its own: add the `sessionPerCall` middleware to your procedures, for example ' +
  '`const procedure = t.procedure.use(sessionPerCall)`.';

const refuse = (): never => {
  throw new SessionUnavailableError(MIDDLEWARE_MISSING);
};

/** The transport of a many-call context's own handle: every session operation explains the middleware. */
const UNSCOPED: SessionTransport = {
  get cookieHeader(): string | undefined {
    return refuse();
  },
  secure: false,
  cookieBlockedReason: MIDDLEWARE_MISSING,
  setCookie: refuse,
  onCommit: refuse,
};

/** One call's session handle, and the write of its changes. */
interface Call {
  session: SessionHandle<SessionSchema>;
  /** Writes the call's changes. Never rejects: resolves to the (reported) failure, if any. */
  end(): Promise<SessionError | null>;
  readonly holdsResult: boolean;
}

/** How to open a call's handle, by the many-call context's own handle. */
const scopes = new WeakMap<object, () => Call>();

/**
 * A context whose `ctx.session` serves many calls: each call gets a fresh handle from `sessionPerCall`
 * (so it sees what other tabs wrote meanwhile), and its changes are written when it ends. `holdsResult`:
 * whether a call's result waits for its write.
 * @internal the core of the WebSocket and server-side-caller adapters
 */
export function perCallContext<S extends SessionSchema>(
  sessions: SessionManager<S>,
  client: DetachedClient,
  holdsResult: boolean,
): SessionContext<S> {
  const session = sessions.handle(UNSCOPED);
  scopes.set(session, () => {
    let commit: SessionCommit | undefined;
    const handle = sessions.handle({ ...client, onCommit: (write) => (commit = write) });
    return {
      session: handle as unknown as SessionHandle<SessionSchema>,
      end: () => commit?.() ?? Promise.resolve(null),
      holdsResult,
    };
  });
  return { session };
}

/** Writes the call's changes; where the result waits for the write, a failed write fails the call. */
async function finish(call: Call): Promise<void> {
  const written = call.end();
  if (!call.holdsResult) return;
  const failure = await written;
  if (failure !== null) throw failure;
}

/** A subscription's values, with the call's changes written once it stops (ends, fails or is cancelled). */
async function* endingWith(source: AsyncIterable<unknown>, call: Call): AsyncGenerator<unknown> {
  try {
    yield* source;
  } finally {
    await finish(call);
  }
}

/**
 * A tRPC middleware that scopes `ctx.session` to one call where the context serves many: a WebSocket
 * connection (`createWSContext`) or a server-side caller (`createCallerContext`). Each call loads the
 * session afresh and its changes are written when it ends (a subscription: when it stops). Over HTTP it
 * does nothing, so it can sit on every procedure. Without it, such a context's session operations throw
 * `SessionUnavailableError` saying to add it.
 *
 * @example
 * const procedure = t.procedure.use(sessionPerCall);
 */
export async function sessionPerCall<TResult extends { ok: boolean }>(opts: {
  ctx: { session: object };
  signal: AbortSignal | undefined;
  next(opts: { ctx: { session: SessionHandle<never> } }): Promise<TResult>;
}): Promise<TResult> {
  const open = scopes.get(opts.ctx.session);
  if (open === undefined) return opts.next({ ctx: { session: opts.ctx.session as SessionHandle<never> } });
  const call = open();
  const result = await opts.next({ ctx: { session: call.session as unknown as SessionHandle<never> } });
  // What the procedure did before returning is written now, in case a subscription is never iterated.
  await finish(call);
  if (!result.ok || !('data' in result)) return result;
  const { data } = result;
  if (isObservable(data)) return { ...result, data: endingWith(observableToAsyncIterable(data, opts.signal ?? new AbortController().signal), call) };
  if (typeof data === 'object' && data !== null && Symbol.asyncIterator in data) {
    return { ...result, data: endingWith(data as AsyncIterable<unknown>, call) };
  }
  return result;
}
