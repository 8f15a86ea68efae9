import type { AnyTRPCRouter, CreateContextCallback, inferRouterContext } from '@trpc/server';
import type { HTTPBaseHandlerOptions } from '@trpc/server/http';
import {
  fetchRequestHandler,
  type FetchCreateContextFnOptions,
  type FetchHandlerRequestOptions,
} from '@trpc/server/adapters/fetch';
import { httpSession } from '../commit.js';
import type { SessionManager } from '../manager.js';
import { runtimeOf, type SessionRuntime } from '../options.js';
import type { NoFlash, SessionSchema } from '../schema.js';
import type { SessionContext } from '../session-api.js';
import { addressedHost, isStreamingRequest, replaceSetCookie, requestIsHttps, STREAMING_COOKIE_REASON, type SessionTransport } from '../transport.js';

/** What your context adds to the session handle: the router's context without the key `K`. */
type OwnContext<TRouter extends AnyTRPCRouter, K extends string> = Omit<inferRouterContext<TRouter>, K>;

/**
 * Your own `createContext`: it gets tRPC's options and the session handle under the manager's `contextKey`
 * `K` (`session` by default), and the handle is added to what it returns under that key.
 */
export type FetchSessionCreateContextFn<TRouter extends AnyTRPCRouter, S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> = (
  opts: FetchCreateContextFnOptions & SessionContext<S, K, F>,
) => OwnContext<TRouter, K> | Promise<OwnContext<TRouter, K>>;

/**
 * Options of {@link fetchSessionHandler}: those of tRPC's `fetchRequestHandler`, and `waitUntil`.
 * `createContext` is required exactly when the router's context has more than the session handle (`K`), as
 * tRPC's own adapters require theirs when the context is not empty.
 */
export type FetchSessionHandlerOptions<TRouter extends AnyTRPCRouter, S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash> = HTTPBaseHandlerOptions<
  TRouter,
  Request
> &
  CreateContextCallback<OwnContext<TRouter, K>, FetchSessionCreateContextFn<TRouter, S, K, F>> & {
    req: Request;
    /** The path the router is served at, such as `/trpc`. */
    endpoint: string;
    /**
     * The platform's way to keep work running after the response is returned: Next.js `after`. It receives
     * the session write (for a streamed call, while the handler runs, a promise of the write made when the
     * stream ends), so the write outlives the response where the platform would otherwise stop the request's
     * work. Long-running servers (Node, Bun, Deno) need none.
     */
    waitUntil?: (promise: Promise<unknown>) => void;
  };

/**
 * One request's facts over the fetch API. A class, not an object literal with accessors: it is built for
 * every request, and V8 builds accessor literals slowly.
 */
class FetchExchange implements SessionTransport {
  readonly #runtime: SessionRuntime;
  readonly #req: Request;
  readonly #resHeaders: Headers;
  readonly #streaming: boolean;
  #waitUntil: ((promise: Promise<unknown>) => void) | undefined;
  #released = false;
  #ended = false;
  #listener: (() => Promise<unknown>) | undefined;
  /** For a streamed response: settles what `waitUntil` was handed while the handler ran, once the write is done. */
  #streamWritten: (() => void) | undefined;

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
    return requestIsHttps(this.#runtime.trustProxy, new URL(this.#req.url).protocol === 'https:', this.#req.headers.get('x-forwarded-proto'));
  }

  get origin(): string | undefined {
    return this.#req.headers.get('origin') ?? undefined;
  }

  get fetchSite(): string | undefined {
    return this.#req.headers.get('sec-fetch-site') ?? undefined;
  }

  get host(): string | undefined {
    // Some runtimes hand over no Host header: the request's URL names the host it was sent to.
    const host = this.#req.headers.get('host') ?? new URL(this.#req.url).host;
    return addressedHost(host, this.#req.headers.get('x-forwarded-host'), this.#runtime.trustProxy);
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

  onEnd(listener: () => Promise<unknown>): void {
    if (this.#ended) this.#run(listener);
    else this.#listener = listener;
  }

  /** The response is out: for a stream, all of it was read or the client went away. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const written = this.#listener === undefined ? Promise.resolve() : this.#run(this.#listener);
    const streamWritten = this.#streamWritten;
    this.#streamWritten = undefined;
    if (streamWritten !== undefined) void written.then(streamWritten);
  }

  #run(listener: () => Promise<unknown>): Promise<unknown> {
    const done = listener();
    this.#waitUntil?.(done);
    return done;
  }

  /** The Response tRPC produced, with its end reported: at once, or once a streamed body is done. */
  release(response: Response): Response {
    this.#released = true;
    if (!this.#streaming || response.body === null) {
      this.end();
      return response;
    }
    // A platform's waitUntil (Next.js `after`) may only be called while the handler runs, not from the
    // stream's pull(): it gets now the promise of the write that the stream's end will make.
    const waitUntil = this.#waitUntil;
    this.#waitUntil = undefined;
    waitUntil?.(new Promise<void>((resolve) => (this.#streamWritten = resolve)));
    const reader = response.body.getReader();
    const end = () => this.end();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          end();
          throw error;
        }
        if (!chunk.done) return controller.enqueue(chunk.value);
        end();
        controller.close();
      },
      async cancel(reason) {
        end();
        await reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
}

/**
 * tRPC's `fetchRequestHandler` with sessions, for fetch-based servers on a Node-compatible runtime: the
 * Next.js app router, Hono, Bun, Deno. `ctx.session` (or the manager's `contextKey`) is added to the context,
 * over what your `createContext` returns; the cookie goes out through the
 * response's headers; the session is written after the `Response` is produced (handed to `waitUntil` when
 * given), or before the calls answer in `'before-response'` mode. For streamed calls (`httpBatchStreamLink`,
 * SSE subscriptions) it is written once the stream ends; they use existing sessions but cannot start one.
 *
 * @example
 * // app/api/trpc/[trpc]/route.ts (Next.js app router)
 * const handler = (req: Request) => fetchSessionHandler(sessions, { endpoint: '/api/trpc', req, router, waitUntil: after });
 * export { handler as GET, handler as POST };
 */
export async function fetchSessionHandler<TRouter extends AnyTRPCRouter, S extends SessionSchema, K extends string = 'session', F extends SessionSchema = NoFlash>(
  sessions: SessionManager<S, K, F>,
  options: FetchSessionHandlerOptions<TRouter, S, K, F>,
): Promise<Response> {
  const runtime = runtimeOf(sessions);
  // Your createContext as this function calls it: here the key is a value, known at run time.
  const { createContext, waitUntil, ...handlerOptions } = options as Omit<FetchSessionHandlerOptions<TRouter, S, K, F>, 'createContext'> & {
    createContext?: (opts: FetchCreateContextFnOptions & Record<string, unknown>) => object | Promise<object>;
  };
  let exchange: FetchExchange | undefined;
  const response = await fetchRequestHandler({
    ...handlerOptions,
    createContext: async (opts: FetchCreateContextFnOptions) => {
      exchange = new FetchExchange(runtime, opts, waitUntil);
      const context = runtime.context(httpSession<S>(runtime, exchange));
      if (createContext === undefined) return context;
      // The handle goes last: under its key, the context holds the session whatever your createContext returned.
      return { ...(await createContext({ ...opts, ...context })), ...context };
    },
    // The handle and what your createContext returns make the router's context: the options' type says so.
  } as FetchHandlerRequestOptions<TRouter>);
  return exchange === undefined ? response : exchange.release(response);
}
