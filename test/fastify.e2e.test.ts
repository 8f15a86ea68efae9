import { expect, test } from 'vitest';
import { redisStore } from '../src/index.js';
import { testManager, type TestRouter } from './helpers/app.js';
import { CookieJar, trpcClient } from './helpers/http.js';
import { serveFastify, serveFastifyWithWebSocket, wsClient } from './helpers/servers.js';
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

test('with useWSS, a WebSocket call reads and writes the session its upgrade request names, as over applyWSSHandler', async () => {
  const { sessions } = testManager(redisStore({ redis: redis.client }));
  const served = await serveFastifyWithWebSocket(sessions);
  const sockets: (() => void)[] = [];
  try {
    const jar = new CookieJar();
    const http = trpcClient<TestRouter>(served.url, jar);
    expect(await http.increment.mutate()).toBe(1);
    const socket = wsClient(served.wsUrl, jar);
    sockets.push(socket.close);
    expect((await socket.client.read.query()).counter).toBe(1);
    expect(await socket.client.increment.mutate()).toBe(2);
    expect((await http.read.query()).counter).toBe(2);

    const stranger = wsClient(served.wsUrl, new CookieJar());
    sockets.push(stranger.close);
    expect(await stranger.client.peek.query()).toBeNull();
    await expect(stranger.client.increment.mutate()).rejects.toThrow(/WebSocket.*no session cookie can be set/);
  } finally {
    for (const close of sockets) close();
    await served.close();
  }
});
