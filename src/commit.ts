import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { SessionError, SessionUnavailableError } from './errors.js';
import { RequestHandle, type SessionClient } from './handle.js';
import type { SessionRuntime } from './options.js';
import type { SessionSchema } from './schema.js';
import type { SessionHandle } from './session-api.js';
import type { SessionTransport } from './transport.js';

/*
 * When a request's session changes are written, and where a failed write goes. The one place that decides:
 *
 * - 'after-response' over HTTP: once the transport reports that the response finished (or the client went
 *   away), one write for the whole request; a failure goes to `onError`.
 * - 'before-response' over HTTP: inside the procedure chain, through `sessions.procedure`. Each call that
 *   finishes waits for the request's write; the last of the request's calls in flight starts it, so a batch
 *   still makes one write. A failure is thrown from every call that waited for it, so tRPC formats it like
 *   any error (transformer, errorFormatter, one result per call of a batch), and goes to `onError` too.
 * - per call (a WebSocket connection, a server-side caller): each call gets a fresh handle from
 *   `sessions.procedure`, written when the call ends (a subscription: when it stops). A caller, and a
 *   WebSocket in 'before-response' mode, wait for the write and fail with it; otherwise it goes to `onError`.
 *
 * Where `sessions.procedure` is required and missing, `ctx.session` refuses every operation with a
 * `SessionUnavailableError` that names it: a write that could not keep its promise is never made silently.
 */

/** What the middleware finds behind the `ctx.session` of a context that needs it. */
interface CallScope {
  run<R extends CallResult>(next: (session: SessionHandle<SessionSchema>) => Promise<R>, signal: AbortSignal | undefined): Promise<R>;
}

/** A middleware's result, as far as the commit needs it. */
export type CallResult = { ok: true; data: unknown } | { ok: false };

/**
 * Where the `ctx.session` of a context that needs `sessions.procedure` keeps its scope: a registered symbol,
 * since the handle may come from another copy of this package than the middleware (Next.js bundles routes
 * separately).
 */
const SCOPE = Symbol.for('trpc-session.call-scope');

const attachScope = (guard: object, scope: CallScope) => Object.defineProperty(guard, SCOPE, { value: scope });

const BEFORE_RESPONSE_NEEDS_PROCEDURE =
  "With persist: 'before-response', a procedure that uses the session must be built on `sessions.procedure`, " +
  'so that its changes are written before it answers and a failed write fails it: ' +
  '`const procedure = t.procedure.concat(sessions.procedure)`.';

const PER_CALL_NEEDS_PROCEDURE =
  'This context serves many calls (a WebSocket connection or a server-side caller), so each call needs a ' +
  'session of its own: build your procedures on `sessions.procedure`, for example ' +
  '`const procedure = t.procedure.concat(sessions.procedure)`.';

/** A `ctx.session` whose every operation explains what is missing. */
class MissingProcedure implements SessionHandle<never> {
  readonly #reason: string;
  constructor(reason: string) {
    this.#reason = reason;
  }
  #refuse(): Promise<never> {
    return Promise.reject(new SessionUnavailableError(this.#reason));
  }
  load(): Promise<never> {
    return this.#refuse();
  }
  start(): Promise<never> {
    return this.#refuse();
  }
  persist(): Promise<never> {
    return this.#refuse();
  }
  regenerate(): Promise<never> {
    return this.#refuse();
  }
  destroy(): Promise<never> {
    return this.#refuse();
  }
}

const writtenWell = () => null;

/** A write's outcome: `null`, or its error, already reported to `onError`. Never rejects. */
function settle(runtime: SessionRuntime, write: Promise<void>): Promise<SessionError | null> {
  return write.then(
    writtenWell,
    (error: unknown) => {
      const failure = error instanceof SessionError ? error : new SessionError('INTERNAL_SERVER_ERROR', String(error), error);
      runtime.report(failure);
      return failure;
    },
  );
}

/**
 * `ctx.session` for one HTTP request. In 'after-response' mode the handle itself, written once the
 * transport reports the end of the response; in 'before-response' mode a handle that asks for
 * `sessions.procedure`, which hands the calls the real one and writes before they answer.
 */
export function httpSession<S extends SessionSchema>(runtime: SessionRuntime, transport: SessionTransport | null): SessionHandle<S> {
  if (runtime.persistMode === 'before-response' && transport !== null) {
    const guard = new MissingProcedure(BEFORE_RESPONSE_NEEDS_PROCEDURE);
    attachScope(guard, new SharedWrite(runtime, new RequestHandle<SessionSchema>(runtime, transport)));
    return guard;
  }
  return new RequestHandle<S, SessionTransport>(runtime, transport, writeAfterResponse);
}

/** 'after-response': once a request has a session, its changes are written when the response has ended. */
function writeAfterResponse(handle: RequestHandle<SessionSchema, SessionTransport>, runtime: SessionRuntime, transport: SessionTransport): void {
  let written: Promise<SessionError | null> | undefined;
  // 'finish' and 'close' may both be reported: the write runs once.
  transport.onEnd(() => (written ??= settle(runtime, handle.commit())));
}

/**
 * `ctx.session` for a context that serves many calls (a WebSocket connection, a server-side caller):
 * `sessions.procedure` gives each call a handle of its own. `holdsResult`: whether a call's result waits
 * for its write, and fails with it.
 */
export function perCallSession<S extends SessionSchema>(runtime: SessionRuntime, client: SessionClient, holdsResult: boolean): SessionHandle<S> {
  const guard = new MissingProcedure(PER_CALL_NEEDS_PROCEDURE);
  attachScope(guard, new OwnWrite(runtime, client, holdsResult));
  return guard;
}

/**
 * The middleware of `sessions.procedure`: hands the call its session and writes it where the commit
 * policy says (see the top of this module). Over HTTP in 'after-response' mode it does nothing.
 */
export function runSessionCall<R extends CallResult>(
  ctxSession: object,
  next: (session: SessionHandle<SessionSchema> | undefined) => Promise<R>,
  signal: AbortSignal | undefined,
): Promise<R> {
  const scope = (ctxSession as { [SCOPE]?: CallScope })[SCOPE];
  return scope === undefined ? next(undefined) : scope.run(next, signal);
}

/** A result whose data streams (a subscription, an async generator): the write follows its end. */
function streaming(data: unknown, signal: AbortSignal | undefined): AsyncIterable<unknown> | null {
  if (isObservable(data)) return observableToAsyncIterable(data, signal ?? new AbortController().signal);
  if (typeof data === 'object' && data !== null && Symbol.asyncIterator in data) return data as AsyncIterable<unknown>;
  return null;
}

/** The values of `source`, then `end()`'s failure thrown, if any (ended, failed or cancelled alike). */
async function* endingWith(source: AsyncIterable<unknown>, end: () => Promise<SessionError | null>, throwFailure: boolean): AsyncGenerator<unknown> {
  let failure: SessionError | null;
  try {
    yield* source;
  } finally {
    failure = await end();
  }
  if (throwFailure && failure !== null) throw failure;
}

/** Returns `result` with its streamed data (if any) followed by `end`. */
function followStream<R extends CallResult>(result: R, signal: AbortSignal | undefined, end: () => Promise<SessionError | null>, throwFailure: boolean): R {
  if (!result.ok) return result;
  const source = streaming(result.data, signal);
  return source === null ? result : { ...result, data: endingWith(source, end, throwFailure) };
}

/**
 * 'before-response' over HTTP: the calls of one request share one handle and one write. The last call in
 * flight to finish starts the write that every finished call waits for; a call that finishes once it has
 * started waits for the next one.
 */
class SharedWrite implements CallScope {
  readonly #runtime: SessionRuntime;
  readonly #handle: RequestHandle<SessionSchema>;
  #inFlight = 0;
  /** The write the finished calls wait for, not started yet. */
  #waiting: { promise: Promise<SessionError | null>; resolve(outcome: Promise<SessionError | null>): void } | undefined;

  constructor(runtime: SessionRuntime, handle: RequestHandle<SessionSchema>) {
    this.#runtime = runtime;
    this.#handle = handle;
  }

  async run<R extends CallResult>(next: (session: SessionHandle<SessionSchema>) => Promise<R>, signal: AbortSignal | undefined): Promise<R> {
    this.#inFlight++;
    let result: R;
    try {
      result = await next(this.#handle);
    } finally {
      this.#inFlight--;
    }
    const written = this.#joinWrite();
    if (!result.ok) return result;
    const failure = await written;
    if (failure !== null) throw failure;
    return followStream(result, signal, () => this.#write(), true);
  }

  /** The write this call's changes go out with: started now if no other call is still running. */
  #joinWrite(): Promise<SessionError | null> {
    if (this.#waiting === undefined) {
      let resolve!: (outcome: Promise<SessionError | null>) => void;
      const promise = new Promise<SessionError | null>((settle) => (resolve = settle));
      this.#waiting = { promise, resolve };
    }
    const { promise, resolve } = this.#waiting;
    if (this.#inFlight === 0) {
      this.#waiting = undefined;
      resolve(this.#write());
    }
    return promise;
  }

  #write(): Promise<SessionError | null> {
    return this.#handle.opened ? settle(this.#runtime, this.#handle.commit()) : Promise.resolve(null);
  }
}

/** A WebSocket connection or a server-side caller: each call has its own handle, written when it ends. */
class OwnWrite implements CallScope {
  readonly #runtime: SessionRuntime;
  readonly #client: SessionClient;
  readonly #holdsResult: boolean;

  constructor(runtime: SessionRuntime, client: SessionClient, holdsResult: boolean) {
    this.#runtime = runtime;
    this.#client = client;
    this.#holdsResult = holdsResult;
  }

  async run<R extends CallResult>(next: (session: SessionHandle<SessionSchema>) => Promise<R>, signal: AbortSignal | undefined): Promise<R> {
    const handle = new RequestHandle<SessionSchema>(this.#runtime, this.#client);
    const write = () => (handle.opened ? settle(this.#runtime, handle.commit()) : Promise.resolve(null));
    const result = await next(handle);
    // What the call did before returning is written now, in case a subscription is never iterated.
    const written = write();
    if (!result.ok) return result;
    if (this.#holdsResult) {
      const failure = await written;
      if (failure !== null) throw failure;
    }
    return followStream(result, signal, write, this.#holdsResult);
  }
}
