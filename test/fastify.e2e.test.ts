import { expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient } from './helpers/http.js';
import { serveFastify } from './helpers/servers.js';
import { httpTransportContract, useRedis } from './helpers/transport-contract.js';

const redis = useRedis();
httpTransportContract((sessions) => serveFastify(sessions), redis);

test("the session cookie goes out beside the app's own cookies, which it never replaces", async () => {
  const { sessions } = testManager(redisStore({ redis: redis.client }));
  const served = await serveFastify(sessions, (app) =>
    app.addHook('onRequest', async (_req, reply) => {
      reply.header('set-cookie', 'theme=dark; Path=/');
    }),
  );
  try {
    const jar = new CookieJar();
    const client = trpcClient<TestRouter>(served.url, jar);
    const [a, b] = await Promise.all([client.login.mutate('ada'), client.login.mutate('bob')]);
    expect(a).toBe(b);
    expect(jar.received.map((cookie) => cookie.name).sort()).toEqual(['sid', 'theme']);
    expect(jar.cookies.get('sid')).toBe(b);
  } finally {
    await served.close();
  }
});
