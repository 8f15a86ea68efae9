import type { AnyTRPCRouter, inferRouterContext } from '@trpc/server';
import {
  fetchRequestHandler,
  type FetchCreateContextFnOptions,
  type FetchHandlerRequestOptions,
} from '@trpc/server/adapters/fetch';
import type { SessionError } from '../errors.js';
import type { SessionContext, SessionManager, SessionRuntime } from '../manager.js';
import type { SessionSchema } from '../schema.js';
import {
  isForwardedHttps,
  isStreamingRequest,
  replaceSetCookie,
  failedWriteResponse,
  STREAMING_COOKIE_REASON,
  type SessionCommit,
  type SessionTransport,
} from '../transport.js';

/** Options of {@link fetchSessionHandler}: those of tRPC's `fetchRequestHandler`, and `waitUntil`. */
export type FetchSessionHandlerOptions<TRouter extends AnyTRPCRouter, S extends SessionSchema> = Omit<
  FetchHandlerRequestOptions<TRouter>,
  'createContext'
> & {
  /**
   * Builds the rest of your context; it gets `session` with tRPC's options, and `session` is added to
   * what it returns. Leave it out when `session` is all your context has.
   */
  createContext?: (
    opts: FetchCreateContextFnOptions & SessionContext<S>,
  ) => Omit<inferRouterContext<TRouter>, 'session'> | Promise<Omit<inferRouterContext<TRouter>, 'session'>>;
  /**
   * The platform's way to keep work running after the response is returned: Next.js `after`. It receives
   * the session write (for a streamed call, while the handler runs, a promise of the write made when the
   * stream ends), so the write outlives the response where the platform would otherwise stop the request's
   * work. Long-running servers (Node, Bun, Deno) need none.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
};

/**
 * One request's transport over the fetch API, and the moment its session is written. A class, not an object
 * literal with accessors: it is built for every request, and V8 builds accessor literals slowly.
 */
class FetchExchange implements SessionTransport {
  readonly #runtime: SessionRuntime;
  readonly #req: Request;
  readonly #resHeaders: Headers;
  readonly #streaming: boolean;
  readonly #waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  #released = false;
  #finished = false;
  #commit: SessionCommit | undefined;
  /** For a streamed response: settles the promise handed to `waitUntil` while the handler ran. */
  #streamDone: (() => void) | undefined;

  constructor(runtime: SessionRuntime, { req, resHeaders, info }: FetchCreateContextFnOptions, waitUntil: ((promise: Promise<unknown>) => void) | undefined) {
    this.#runtime = runtime;
    this.#req = req;
    this.#resHeaders = resHeaders;
    this.#streaming = isStreamingRequest(info);
    this.#waitUntil = waitUntil;
  }

  get cookieHeader(): string | undefined {
    return this.#req.headers.get('cookie') ?? undefined;
  }

  get secure(): boolean {
    if (new URL(this.#req.url).protocol === 'https:') return true;
    return this.#runtime.trustProxy && isForwardedHttps(this.#req.headers.get('x-forwarded-proto'));
  }

  get cookieBlockedReason(): string | null {
    // tRPC copies resHeaders into the Response once; a cookie set after that would be lost.
    return this.#streaming || this.#released ? STREAMING_COOKIE_REASON : null;
  }

  setCookie(header: string): void {
    const cookies = replaceSetCookie(this.#resHeaders.getSetCookie(), this.#runtime.cookie.name, header);
    this.#resHeaders.delete('set-cookie');
    for (const cookie of cookies) this.#resHeaders.append('set-cookie', cookie);
  }

  onCommit(write: SessionCommit): void {
    // A write registered after the response is out (work a procedure left running) runs at once.
    if (this.#finished) void this.#run(write);
    else this.#commit = write;
  }

  #run(write: SessionCommit): ReturnType<SessionCommit> {
    const written = write();
    this.#waitUntil?.(written);
    return written;
  }

  /**
   * The response is out (or, for a stream, all of it was read): write now, or in whatever ran late. In
   * 'before-response' mode, resolves to the write's failure, if any, so the response can fail with it.
   */
  async #finish(): Promise<SessionError | null> {
    const commit = this.#finished ? undefined : this.#commit;
    this.#finished = true;
    const streamDone = this.#streamDone;
    this.#streamDone = undefined;
    if (commit === undefined) {
      streamDone?.();
      return null;
    }
    const written = streamDone === undefined ? this.#run(commit) : commit();
    if (streamDone !== undefined) void written.then(streamDone);
    return this.#runtime.persistMode === 'before-response' ? written : null;
  }

  /** Hands out the Response tRPC produced, with the session written after it (or before, if so set). */
  async release(response: Response): Promise<Response> {
    this.#released = true;
    if (!this.#streaming || response.body === null) {
      const failure = await this.#finish();
      // Never answer with success for changes that were not stored.
      if (failure === null) return response;
      const { status, body } = failedWriteResponse(failure);
      return new Response(body, { status, headers: { 'content-type': 'application/json' } });
    }
    // Procedures run while the body streams: write once all of it was read, or the client went away. The
    // platform takes work only while the handler runs (Next.js `after` throws later): it gets, now, a promise
    // that settles when that write is done.
    if (this.#waitUntil !== undefined) this.#waitUntil(new Promise<void>((resolve) => (this.#streamDone = resolve)));
    const reader = response.body.getReader();
    const finish = () => this.#finish();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          void finish();
          throw error;
        }
        if (!chunk.done) return controller.enqueue(chunk.value);
        const failure = await finish();
        if (failure === null) controller.close();
        else controller.error(failure);
      },
      async cancel(reason) {
        void finish();
        await reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
}

/**
 * tRPC's `fetchRequestHandler` with sessions, for fetch servers on a Node-compatible runtime: the Next.js
 * app router (Node.js runtime, not edge), Bun, Deno, `@hono/node-server`. `ctx.session` is added to the context; the cookie goes out through the
 * response's headers; the session is written after the `Response` is produced (handed to `waitUntil` when
 * given), or before it is returned in `'before-response'` mode. For streamed calls (`httpBatchStreamLink`,
 * SSE subscriptions) it is written once the stream ends; they use existing sessions but cannot start one.
 *
 * @example
 * // app/api/trpc/[trpc]/route.ts (Next.js app router)
 * const handler = (req: Request) => fetchSessionHandler(sessions, { endpoint: '/api/trpc', req, router, waitUntil: after });
 * export { handler as GET, handler as POST };
 */
export async function fetchSessionHandler<TRouter extends AnyTRPCRouter, S extends SessionSchema>(
  sessions: SessionManager<S>,
  options: FetchSessionHandlerOptions<TRouter, S>,
): Promise<Response> {
  const { createContext, waitUntil, ...handlerOptions } = options;
  let exchange: FetchExchange | undefined;
  const response = await fetchRequestHandler({
    ...handlerOptions,
    createContext: async (opts: FetchCreateContextFnOptions) => {
      exchange = new FetchExchange(sessions.runtime, opts, waitUntil);
      const session = sessions.handle(exchange);
      return { ...(await createContext?.({ ...opts, session })), session };
    },
  } as FetchHandlerRequestOptions<TRouter>);
  return exchange === undefined ? response : exchange.release(response);
}
