import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between Redis clients and Redis that loses a reply on demand: armed with a marker, it forwards the
 * next client data that holds the marker to Redis, waits until Redis has answered (so Redis has run the command),
 * then closes the client's connection without relaying the answer. The client sees its connection cut with a
 * command unanswered, exactly the case ioredis resends after reconnecting. Deterministic: no timing decides
 * whether the command ran.
 */
export interface CuttingProxy {
  /** The proxy's port in front of the Redis server on `target` (one of the ports it was started with). */
  portOf(target: number): number;
  /**
   * Arms one cut, for the next client data holding `marker` (a session ID, a field name); resolves once that
   * data's answer has arrived from Redis and the client's connection was closed without it.
   */
  cutAfter(marker: string): Promise<void>;
  /** Disarms a cut that never happened (its promise stays pending). */
  disarm(): void;
  close(): Promise<void>;
}

/**
 * Starts one proxy port on loopback per Redis server on `targetPorts` (one for a single server, one per node for a
 * Cluster, whose clients reach them through ioredis's `natMap`); a cut is armed on all of them at once and happens
 * on the first that sees the marker.
 */
export async function startCuttingProxy(targetPorts: readonly number[]): Promise<CuttingProxy> {
  let armed: { marker: Buffer; done: () => void } | undefined;
  const sockets = new Set<Socket>();

  const listenFor = async (targetPort: number): Promise<{ server: Server; port: number }> => {
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      let cutting = false;
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('data', (chunk) => {
        if (cutting) return;
        const cut = armed;
        if (cut !== undefined && chunk.includes(cut.marker)) {
          armed = undefined;
          cutting = true;
          // Redis answers the commands of one read together: its first bytes back mean the command has run.
          upstream.once('data', () => {
            end();
            cut.done();
          });
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!cutting) client.write(chunk);
      });
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
  };

  const proxies = new Map<number, { server: Server; port: number }>();
  for (const targetPort of targetPorts) proxies.set(targetPort, await listenFor(targetPort));
  return {
    portOf(target) {
      const proxy = proxies.get(target);
      if (proxy === undefined) throw new Error(`no proxy in front of port ${target}`);
      return proxy.port;
    },
    cutAfter(marker) {
      return new Promise((resolve) => (armed = { marker: Buffer.from(marker), done: resolve }));
    },
    disarm() {
      armed = undefined;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([...proxies.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/**
 * Runs `call` with one cut armed on `marker`; resolves to its result, or the error it threw, once the cut
 * happened. Throws if no command carrying the marker was cut: a round that cut nothing proves nothing.
 */
export async function withCut<T>(proxy: CuttingProxy, marker: string, call: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const cut = proxy.cutAfter(marker);
  let settled: { value?: T; error?: unknown };
  try {
    settled = { value: await call() };
  } catch (error) {
    settled = { error };
  }
  const happened = await Promise.race([cut.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000))]);
  proxy.disarm();
  if (!happened) throw new Error(`no command carrying "${marker}" was cut`);
  return settled;
}
