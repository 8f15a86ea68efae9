import { createServer } from 'node:http';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore } from 'trpc-session';

// Your OpenTelemetry SDK (here: spans printed to stdout; in production, @opentelemetry/sdk-node and an exporter).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }));

const sessions = createSessionManager({
  schema: z.object({ visits: z.number().int().default(0) }),
  store: redisStore({ redis: new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true }) }),
  telemetry: true,
});

const t = initTRPC.context<ReturnType<typeof sessions.createContext>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

// A span per request (what @opentelemetry/instrumentation-http gives you): the session's spans nest under it.
const handler = createHTTPHandler({ router, createContext: sessions.createContext });
const tracer = trace.getTracer('example');
createServer((req, res) =>
  tracer.startActiveSpan(`${req.method} ${req.url}`, (span) => {
    // After the response: the session's write ('trpc-session.commit') is part of the request.
    res.on('close', () => setTimeout(() => span.end(), 100));
    handler(req, res);
  }),
).listen(Number(process.env.PORT ?? 3000));
