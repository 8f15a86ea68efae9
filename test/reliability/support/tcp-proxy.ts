import { connect, createServer, type Socket } from 'node:net';

/** A loopback TCP proxy to a port, which can drop every connection through it at once. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every open connection, both sides, mid-stream; new connections are accepted. Returns how many. */
  cut(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    open.add(pair);
    const drop = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const cut = () => {
    const count = open.size;
    for (const [client, upstream] of [...open]) {
      client.destroy();
      upstream.destroy();
    }
    open.clear();
    return count;
  };
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cut,
    close() {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
