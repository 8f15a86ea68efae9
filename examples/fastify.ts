import { initTRPC } from '@trpc/server';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createSessionManager, redisStore, type SessionContext } from 'trpc-session';
import { createFastifyContext } from 'trpc-session/fastify';

const schema = z.object({ visits: z.number().int().default(0) });
const sessions = createSessionManager({
  schema,
  store: redisStore({ redis: () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') }),
});

const t = initTRPC.context<SessionContext<typeof schema>>().create();
const router = t.router({
  visit: t.procedure.mutation(async ({ ctx }) => {
    const session = await ctx.session.start();
    session.data.put('visits', session.data.get('visits') + 1);
    return session.data.get('visits');
  }),
});

const app = Fastify();
app.register(fastifyTRPCPlugin, {
  prefix: '/trpc',
  trpcOptions: { router, createContext: createFastifyContext(sessions) } satisfies FastifyTRPCPluginOptions<typeof router>['trpcOptions'],
});
app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
