import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { CounterSession } from '../router.js';

/** The options tRPC's node-http adapters hand `createContext`. */
export interface NodeContextOptions {
  req: IncomingMessage;
  res: ServerResponse;
}

/** One way of keeping sessions, ready to serve the benchmark router. */
export interface Variant<Ctx extends object = object> {
  createContext(opts: NodeContextOptions): Ctx;
  session: CounterSession<Ctx>;
  /** Express middleware that must run before tRPC's (express-session); such a variant is Express-only. */
  expressMiddleware?: RequestHandler;
  close(): Promise<void>;
}

/** What a server process is told to build. */
export interface VariantOptions {
  redisUrl: string;
  /** ioredis `enableAutoPipelining`, for the trpc-session Redis variant (the others keep their defaults). */
  autoPipelining: boolean;
}
